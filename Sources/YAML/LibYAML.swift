internal import CYAML

/// One libyaml parsing event, in Swift values (the C event is freed as soon as it is read).
enum Event {
    case streamStart
    case streamEnd
    case documentStart
    case documentEnd
    case alias(anchor: String, mark: Mark)
    case scalar(Node.Scalar, anchor: String?)
    case sequenceStart(tag: Tag, style: CollectionStyle, anchor: String?, mark: Mark)
    case sequenceEnd
    case mappingStart(tag: Tag, style: CollectionStyle, anchor: String?, mark: Mark)
    case mappingEnd
}

/// Owns one `yaml_parser_t` and the copy of the input it reads (libyaml keeps a pointer to the
/// input, and the parser struct points at itself, so both live at fixed heap addresses until
/// `deinit` frees them). Produces the events of the text one at a time.
///
/// The events are those of the libyaml Yams 6.2.2 vendored, which is libyaml 0.2.5 plus two later
/// upstream commits; this class makes the system's 0.2.5 behave the same (see `next()`).
final class LibYAMLParser {
    /// What the reader's byte offsets are counted in, to turn them into Character offsets.
    enum Source {
        /// The UTF-8 of this string.
        case text(String)
        /// Bytes that may not be UTF-8.
        case bytes
    }

    private let parser: UnsafeMutablePointer<yaml_parser_t>
    private let input: UnsafeMutableBufferPointer<UInt8>
    private let source: Source

    /// A parser of `bytes`, read as UTF-8 whatever they start with (libyaml would otherwise guess
    /// the encoding from a byte order mark). Throws `YAMLError.memory` if libyaml cannot allocate
    /// its buffers.
    init(parsing bytes: some Collection<UInt8>, source: Source) throws {
        parser = .allocate(capacity: 1)
        parser.initialize(to: yaml_parser_t())
        // libyaml asserts that the input pointer is not null, even for empty input.
        input = .allocate(capacity: max(bytes.count, 1))
        _ = input.initialize(from: bytes)
        self.source = source
        // From here on deinit runs if init throws; yaml_parser_delete is safe on a parser whose
        // initialisation failed (libyaml frees and nulls what it had allocated).
        guard yaml_parser_initialize(parser) == 1 else { throw YAMLError.memory }
        yaml_parser_set_encoding(parser, YAML_UTF8_ENCODING)
        yaml_parser_set_input_string(parser, input.baseAddress, bytes.count)
    }

    deinit {
        yaml_parser_delete(parser)
        parser.deinitialize(count: 1)
        parser.deallocate()
        input.deallocate()
    }

    /// Whether libyaml has produced the stream's end.
    var streamEndProduced: Bool {
        parser.pointee.stream_end_produced != 0
    }

    /// The next event. Throws the `YAMLError` libyaml reports; after an error, the parser must not
    /// be asked again (libyaml would return empty events).
    func next() throws -> Event {
        // libyaml 0.2.5 mishandles `?` directly followed by `]` in a flow sequence (`[?]`,
        // `[a, ? ]`): it consumes the `]` as if it were the key, so the sequence never closes
        // where it should. Upstream fixed that after 0.2.5 (libyaml commit 840b65c, in Yams'
        // copy): the key is an empty scalar at the `]`, and the `]` stays for the value and the
        // sequence's end. The state is set exactly when that branch would run, so do what the fix
        // does here: peek at the token (as the parser itself would next) and answer for it.
        if parser.pointee.state == YAML_PARSE_FLOW_SEQUENCE_ENTRY_MAPPING_KEY_STATE {
            guard parser.pointee.token_available != 0 || yaml_parser_fetch_more_tokens(parser) == 1 else {
                throw currentError()
            }
            if let token = parser.pointee.tokens.head?.pointee, token.type == YAML_FLOW_SEQUENCE_END_TOKEN {
                parser.pointee.state = YAML_PARSE_FLOW_SEQUENCE_ENTRY_MAPPING_VALUE_STATE
                let mark = Mark(token.start_mark)
                return .scalar(Node.Scalar("", tag: Tag(resolvingPlainScalar: ""), style: .plain, mark: mark), anchor: nil)
            }
        }
        var event = OwnedEvent()
        guard yaml_parser_parse(parser, &event.raw) == 1 else { throw currentError() }
        return try translate(event.raw)
    }

    private func translate(_ event: yaml_event_t) throws -> Event {
        let start = Mark(event.start_mark)
        switch event.type {
        case YAML_STREAM_START_EVENT: return .streamStart
        case YAML_STREAM_END_EVENT: return .streamEnd
        case YAML_DOCUMENT_START_EVENT: return .documentStart
        case YAML_DOCUMENT_END_EVENT: return .documentEnd
        case YAML_ALIAS_EVENT:
            return .alias(anchor: string(event.data.alias.anchor) ?? "", mark: start)
        case YAML_SCALAR_EVENT:
            let data = event.data.scalar
            var bytes = UnsafeBufferPointer(start: data.value, count: data.length)[...]
            // Yams decoded a scalar with Foundation's String(bytes:encoding: .utf8), which drops
            // one leading U+FEFF as a byte order mark: `- "\uFEFF"` was "" (and `- <U+FEFF>`
            // a null), and the tag below is resolved from what remains.
            if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes = bytes.dropFirst(3) }
            let value = String(decoding: bytes, as: UTF8.self)
            // A quoted or block scalar without a tag is a string (libyaml's quoted_implicit); an
            // explicit tag is kept, the non-specific `!` meaning string; only a plain scalar
            // without a tag is resolved from its text. (libyaml sets plain_implicit for a plain
            // scalar tagged `!` too, but with the tag present.)
            let tag: Tag
            if data.quoted_implicit != 0 {
                tag = .str
            } else if let explicit = string(data.tag), !explicit.isEmpty {
                tag = explicit == "!" ? .str : Tag(rawValue: explicit)
            } else {
                tag = Tag(resolvingPlainScalar: value)
            }
            let style = Node.Scalar.Style(rawValue: data.style.rawValue) ?? .any
            return .scalar(Node.Scalar(value, tag: tag, style: style, mark: start), anchor: string(data.anchor))
        case YAML_SEQUENCE_START_EVENT:
            let data = event.data.sequence_start
            try checkNestingLimit(event)
            return .sequenceStart(
                tag: collectionTag(implicit: data.implicit, data.tag, default: .seq),
                style: collectionStyle(data.style.rawValue), anchor: string(data.anchor), mark: start
            )
        case YAML_SEQUENCE_END_EVENT: return .sequenceEnd
        case YAML_MAPPING_START_EVENT:
            let data = event.data.mapping_start
            try checkNestingLimit(event)
            return .mappingStart(
                tag: collectionTag(implicit: data.implicit, data.tag, default: .map),
                style: collectionStyle(data.style.rawValue), anchor: string(data.anchor), mark: start
            )
        case YAML_MAPPING_END_EVENT: return .mappingEnd
        default:
            // YAML_NO_EVENT comes only after the stream's end or an error, when the composer
            // does not ask.
            preconditionFailure("libyaml returned an event of type \(event.type.rawValue) while composing")
        }
    }

    /// Yams' libyaml refuses collections nested 1000 deep (upstream commit 51843fe, "Limit depth
    /// of nesting by default"); 0.2.5 has no limit. Its check runs in the parser just before it
    /// emits the start of a block or flow collection (not for an indentless sequence, nor for
    /// the single-pair mapping of `[a: b]`), and compares the scanner's block indentation stack
    /// with 1000 minus its flow level. Nothing changes either between the check and the event,
    /// so the same test on the event's parser state refuses exactly what it refused, with the
    /// same words and marks.
    private func checkNestingLimit(_ event: yaml_event_t) throws {
        let state = parser.pointee.state
        let flow = state == YAML_PARSE_FLOW_SEQUENCE_FIRST_ENTRY_STATE || state == YAML_PARSE_FLOW_MAPPING_FIRST_KEY_STATE
        let block = state == YAML_PARSE_BLOCK_SEQUENCE_FIRST_ENTRY_STATE || state == YAML_PARSE_BLOCK_MAPPING_FIRST_KEY_STATE
        guard flow || block else { return }
        let indents = parser.pointee.indents
        let depth = indents.start.map { start in indents.top.map { start.distance(to: $0) } ?? 0 } ?? 0
        guard depth >= 1000 - Int(parser.pointee.flow_level) else { return }
        // The problem is at the collection's first token: `[` or `{` ends one column before the
        // event does; a block collection's start token has no width, so it is the event's end.
        var token = event.end_mark
        if flow { token.column -= 1 }
        throw YAMLError.parser(
            context: YAMLError.Context(text: "while parsing", mark: Mark(event.start_mark)),
            problem: "Maximum nesting level reached, set with yaml_set_max_nest_level())",
            mark: Mark(token)
        )
    }

    /// The error libyaml recorded in the parser, with 1-based marks.
    private func currentError() -> YAMLError {
        let state = parser.pointee
        let problem = state.problem.map { String(cString: $0) } ?? ""
        let context = state.context.map { YAMLError.Context(text: String(cString: $0), mark: Mark(state.context_mark)) }
        switch state.error {
        case YAML_READER_ERROR:
            return .reader(problem: problem, offset: characterOffset(ofByte: Int(state.problem_offset)), value: state.problem_value)
        case YAML_SCANNER_ERROR:
            return .scanner(context: context, problem: problem, mark: Mark(state.problem_mark))
        case YAML_PARSER_ERROR:
            return .parser(context: context, problem: problem, mark: Mark(state.problem_mark))
        case YAML_COMPOSER_ERROR:
            return .composer(context: context, problem: problem, mark: Mark(state.problem_mark))
        default:
            // YAML_MEMORY_ERROR; the parser reports no other kind.
            return .memory
        }
    }

    /// How many Characters of the input come before byte `offset`, or nil if that byte is not
    /// where a Character starts. For text, this is Yams' reckoning: the UTF-8 offset as a String
    /// index, if it is a Character boundary. For bytes, the Characters of the bytes before it, if
    /// they are valid UTF-8.
    private func characterOffset(ofByte offset: Int) -> Int? {
        switch source {
        case .text(let text):
            guard let index = text.utf8.index(text.utf8.startIndex, offsetBy: offset, limitedBy: text.utf8.endIndex),
                  let character = index.samePosition(in: text) else { return nil }
            return text.distance(from: text.startIndex, to: character)
        case .bytes:
            guard offset <= input.count, let prefix = String(validating: input[..<offset], as: UTF8.self) else { return nil }
            return prefix.count
        }
    }
}

/// Owns one `yaml_event_t` that libyaml filled in; deinit frees its strings.
private struct OwnedEvent: ~Copyable {
    var raw = yaml_event_t()

    deinit {
        var raw = raw
        yaml_event_delete(&raw)
    }
}

extension Mark {
    /// libyaml's 0-based mark, 1-based.
    fileprivate init(_ mark: yaml_mark_t) {
        self.init(line: Int(mark.line) + 1, column: Int(mark.column) + 1)
    }
}

/// A C string from libyaml (anchor, tag), or nil; invalid UTF-8 is repaired, as Yams did.
private func string(_ pointer: UnsafeMutablePointer<yaml_char_t>?) -> String? {
    pointer.map { String(cString: $0) }
}

/// A collection's tag: libyaml marks it implicit when it has none (or an empty one); the
/// non-specific `!` also means the default.
private func collectionTag(implicit: Int32, _ tag: UnsafeMutablePointer<yaml_char_t>?, default defaultTag: Tag) -> Tag {
    guard implicit == 0, let explicit = string(tag), explicit != "!" else { return defaultTag }
    return Tag(rawValue: explicit)
}

/// libyaml's `yaml_sequence_style_t`/`yaml_mapping_style_t`: any, block, flow.
private func collectionStyle(_ raw: UInt32) -> CollectionStyle {
    switch raw {
    case 1: return .block
    case 2: return .flow
    default: return .any
    }
}
