internal import CLinuxShims

/// The C heap.
public enum Memory {
    /// Returns the free pages of every malloc arena to the kernel (glibc's malloc_trim(3)).
    /// After a burst of connections has ended the freed memory otherwise stays resident. Takes
    /// each arena's lock in turn: call it rarely (after a burst), never per request.
    public static func releaseFreePages() {
        _ = CLinuxShims_malloc_trim(0)
    }
}

/// Loaded code objects.
public enum LoadedObjects {
    /// The file of the loaded object (the executable or a shared library) whose code holds
    /// `address` (dladdr(3)); nil if no loaded object does.
    public static func path(containing address: UnsafeRawPointer) -> String? {
        guard let path = CLinuxShims_object_path_of(address) else { return nil }
        return String(cString: path)
    }
}
