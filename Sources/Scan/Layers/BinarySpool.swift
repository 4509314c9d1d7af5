import Foundation

/// Where the layer analysis puts an executable while it streams, for the binary detector: an
/// unlinked temporary file, reused for every executable of the layer (truncated at each), so a
/// 100 MB binary costs the page cache, not the scan's memory, and the detector reads only its
/// headers and the sections it needs (``ELFSource/file``). A file that does not start with the
/// ELF magic is not written at all.
final class BinarySpool {
    private var descriptor: Int32 = -1
    private let directory: String
    /// Bytes of the current file: its first four decide whether it is written.
    private(set) var size = 0
    private var magic: [UInt8] = []
    private(set) var isELF: Bool?
    /// Why the current file could not be spooled (the disk is full, say).
    private(set) var failure: String?

    init(directory: String = FileManager.default.temporaryDirectory.path) {
        self.directory = directory
    }

    deinit {
        if descriptor >= 0 { close(descriptor) }
    }

    /// Starts a new file.
    func begin() {
        size = 0
        magic.removeAll(keepingCapacity: true)
        isELF = nil
        failure = nil
    }

    func feed(_ bytes: UnsafeRawBufferPointer) {
        guard isELF != false, failure == nil, !bytes.isEmpty else { return }
        if isELF == nil {
            magic.append(contentsOf: bytes.prefix(4 - magic.count))
            guard magic.count == 4 else {
                write(bytes)
                return
            }
            isELF = magic == [0x7F, 0x45, 0x4C, 0x46]
            guard isELF == true else { return }
        }
        write(bytes)
    }

    private func write(_ bytes: UnsafeRawBufferPointer) {
        if descriptor < 0 {
            var template = Array("\(directory)/harborguard-exe-XXXXXX".utf8CString)
            descriptor = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
            guard descriptor >= 0 else {
                failure = "cannot create a temporary file in \(directory): \(String(cString: strerror(errno)))"
                return
            }
            template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
        }
        if size == 0 { _ = ftruncate(descriptor, 0) }
        var done = 0
        while done < bytes.count {
            let n = pwrite(descriptor, bytes.baseAddress! + done, bytes.count - done, off_t(size + done))
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                failure = "cannot write a temporary file in \(directory): \(String(cString: strerror(errno)))"
                return
            }
            done += n
        }
        size += bytes.count
    }

    /// The spooled ELF file to read, or nil when the file was not ELF (or not spooled).
    var source: ELFSource? {
        guard isELF == true, failure == nil, descriptor >= 0 else { return nil }
        return .file(descriptor: descriptor, size: size)
    }
}
