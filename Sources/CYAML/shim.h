// libyaml 0.2.x (libyaml-dev), the YAML 1.1 parser the YAML target drives through its event API.
#include <yaml.h>

// The scanner's "make sure a token is queued" step, which yaml_parser_parse runs before it looks
// at the next token. yaml.h leaves it out (it is declared in libyaml's private header), but
// libyaml-0.so.2 exports it and Debian's symbols file tracks it as part of the library's ABI.
// The YAML target calls it to look at the next token before libyaml's parser does, where libyaml
// 0.2.5 mishandles a `]` (see LibYAML.swift).
YAML_DECLARE(int) yaml_parser_fetch_more_tokens(yaml_parser_t *parser);
