import Foundation
import Testing
@testable import HostPmem

@Suite struct PmemMappingTests {
    @Test func createWritePersistReopenReadsTheSameBytes() throws {
        let dir = TempDir()
        let path = dir.file("backing.pmem")
        let pattern = (0..<10_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        do {
            let m = try PmemMapping.create(path: path, size: 4 << 20)
            #expect(m.created)
            #expect(m.length == 4 << 20)
            #expect(m.persistence == (m.isPmem ? .cacheFlush : .msync))
            try m.write(pattern, at: 123_457)
            try m.write([0xAB], at: (4 << 20) - 1)
        }  // unmapped and unlocked here
        #expect(mappingsOf(path) == 0)
        let again = try PmemMapping.open(path: path)
        #expect(!again.created)
        #expect(again.length == 4 << 20)
        #expect(try again.read(at: 123_457, count: pattern.count) == pattern)
        #expect(try again.read(at: (4 << 20) - 1, count: 1) == [0xAB])
        #expect(try again.read(at: 0, count: 16) == [UInt8](repeating: 0, count: 16))
    }

    @Test func createIsSparseUnlessPreallocated() throws {
        let dir = TempDir()
        let sparse = try PmemMapping.create(path: dir.file("sparse"), size: 64 << 20)
        let info = try PmemInfo.inspect(path: sparse.path)
        #expect(info.size == 64 << 20)
        #expect(info.allocated! < 1 << 20)
        let full = try PmemMapping.create(path: dir.file("full"), size: 8 << 20, preallocate: true)
        #expect(try PmemInfo.inspect(path: full.path).allocated! >= 8 << 20)
    }

    @Test func createOfAnExistingFileWithItsSizeOpensIt() throws {
        let dir = TempDir()
        let path = dir.file("b")
        do { try PmemMapping.create(path: path, size: 1 << 20).write([1, 2, 3], at: 10) }
        let m = try PmemMapping.create(path: path, size: 1 << 20)
        #expect(!m.created)
        #expect(try m.read(at: 10, count: 3) == [1, 2, 3])
    }

    @Test func aDifferentSizeIsRefusedNamingBothAndTheFileIsUntouched() throws {
        let dir = TempDir()
        let path = dir.file("b")
        do { try PmemMapping.create(path: path, size: 2 << 20).write([9, 9], at: 0) }
        #expect(throws: HostPmemError.sizeMismatch(path: path, existing: 2 << 20, requested: 4 << 20)) {
            try PmemMapping.create(path: path, size: 4 << 20)
        }
        #expect(throws: HostPmemError.sizeMismatch(path: path, existing: 2 << 20, requested: 1 << 20)) {
            try PmemMapping.open(path: path, expectedSize: 1 << 20)
        }
        #expect(fileSize(path) == 2 << 20)
        #expect(try PmemMapping.open(path: path).read(at: 0, count: 2) == [9, 9])
        let message = HostPmemError.sizeMismatch(path: path, existing: 2 << 20, requested: 4 << 20).description
        #expect(message.contains("2097152") && message.contains("4194304"))
    }

    @Test func aMissingDirectoryIsNamed() {
        let dir = TempDir()
        let path = dir.file("no/such/dir/b")
        #expect(throws: HostPmemError.directoryMissing(path: path, directory: dir.file("no/such/dir"))) {
            try PmemMapping.create(path: path, size: 1 << 20)
        }
    }

    @Test func aPathThatCannotBeCreatedLeavesNothingBehind() {
        // sysfs refuses new files even to root; /proc answers ENOENT in an existing directory.
        #expect(throws: HostPmemError.permissionDenied(path: "/sys/vpmem-test.pmem", operation: "create")) {
            try PmemMapping.create(path: "/sys/vpmem-test.pmem", size: 1 << 20)
        }
        #expect(throws: HostPmemError.cannotCreate(path: "/proc/vpmem-test.pmem", reason: "the filesystem refuses new files")) {
            try PmemMapping.create(path: "/proc/vpmem-test.pmem", size: 1 << 20)
        }
        #expect(!FileManager.default.fileExists(atPath: "/sys/vpmem-test.pmem"))
    }

    @Test func aFailedCreateRemovesOnlyWhatItMade() throws {
        let dir = TempDir()
        let path = dir.file("huge")
        // Larger than any file offset: refused after the file was made, which is then removed.
        #expect(throws: HostPmemError.self) { try PmemMapping.create(path: path, size: UInt64.max) }
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    @Test func missingFilesDirectoriesAndEmptyFilesAreRefusedClearly() throws {
        let dir = TempDir()
        #expect(throws: HostPmemError.fileMissing(path: dir.file("nope"))) { try PmemMapping.open(path: dir.file("nope")) }
        #expect(throws: HostPmemError.notPmemCapable(path: dir.path, reason: "it is a directory")) {
            try PmemMapping.open(path: dir.path)
        }
        FileManager.default.createFile(atPath: dir.file("empty"), contents: nil)
        #expect(throws: HostPmemError.self) { try PmemMapping.open(path: dir.file("empty")) }
        #expect(throws: HostPmemError.invalidSize(path: dir.file("z"), size: 0, reason: "a pmem backing needs at least one byte")) {
            try PmemMapping.create(path: dir.file("z"), size: 0)
        }
    }

    @Test func accessesOutsideTheMappingAreRefused() throws {
        let dir = TempDir()
        let m = try PmemMapping.create(path: dir.file("b"), size: 1 << 20)
        #expect(throws: HostPmemError.outOfBounds(path: m.path, offset: (1 << 20) - 1, length: 2, size: 1 << 20)) {
            try m.write([1, 2], at: (1 << 20) - 1)
        }
        #expect(throws: HostPmemError.outOfBounds(path: m.path, offset: .max, length: 4, size: 1 << 20)) {
            try m.read(at: .max, count: 4)
        }
        #expect(throws: HostPmemError.outOfBounds(path: m.path, offset: 1 << 20, length: 1, size: 1 << 20)) {
            try m.persist(offset: 1 << 20, count: 1)
        }
    }

    @Test func aReadOnlyMappingRefusesWritesAndTakesNoLock() throws {
        let dir = TempDir()
        let path = dir.file("b")
        let writer = try PmemMapping.create(path: path, size: 1 << 20)
        try writer.write([5], at: 0)
        let reader = try PmemMapping.open(path: path, access: .readOnly)
        #expect(try reader.read(at: 0, count: 1) == [5])
        #expect(throws: HostPmemError.readOnly(path: path)) { try reader.write([1], at: 0) }
        // The file is mapped without write permission, not writable and merely unused. Asked of
        // the kernel without a fault: read(2) into a page the process may not write fails with
        // EFAULT, into a writable one it succeeds. (Not /proc/self/maps: in a test process that
        // maps and unmaps on other threads its lines proved unreliable.)
        func kernelMayWrite(_ m: PmemMapping) throws -> Bool {
            let zero = open("/dev/zero", O_RDONLY)
            defer { close(zero) }
            return try m.withUnsafeBytes(offset: 0, count: 1) { p in
                Foundation.read(zero, UnsafeMutableRawPointer(mutating: p.baseAddress!), 1)
            }.get() == 1
        }
        let readerWritable = try kernelMayWrite(reader)
        let writerWritable = try kernelMayWrite(writer)
        #expect(!readerWritable, "the reader's mapping has no write permission")
        #expect(writerWritable, "the check can tell: the writer's mapping takes the write")
    }

    @Test func unpersistedWritesBecomeDurableWithPersist() throws {
        let dir = TempDir()
        let path = dir.file("b")
        do {
            let m = try PmemMapping.create(path: path, size: 1 << 20)
            let data = [UInt8](repeating: 0x5A, count: 8192)
            try data.withUnsafeBytes { try m.writeUnpersisted($0, at: 4096) }
            try m.persist(offset: 4096, count: 8192)
        }
        #expect(try PmemMapping.open(path: path).read(at: 4096, count: 8192) == [UInt8](repeating: 0x5A, count: 8192))
    }

    @Test func aSecondWriterInThisProcessIsRefused() throws {
        // OFD locks conflict between open file descriptions even inside one process.
        let dir = TempDir()
        let path = dir.file("b")
        let first = try PmemMapping.create(path: path, size: 1 << 20)
        #expect(throws: HostPmemError.locked(path: path, holderPid: nil)) { try PmemMapping.open(path: path) }
        #expect(try PmemInfo.inspect(path: path).locked)
        _ = first
    }

    @Test func mappingAndDroppingTenThousandTimesLeaksNothing() throws {
        let dir = TempDir()
        let path = dir.file("b")
        do { _ = try PmemMapping.create(path: path, size: 64 << 10) }
        let fdsBefore = openDescriptorCount()
        for i in 0..<10_000 {
            let m = try PmemMapping.open(path: path)
            if i % 1000 == 0 { #expect(mappingsOf(path) >= 1, "the mapping is live while held") }
            _ = m
        }
        #expect(mappingsOf(path) == 0)
        // Other tests run in parallel and open files too; a leak here would be ~10,000 descriptors.
        #expect(openDescriptorCount() < fdsBefore + 50)
        // The lock went with the last mapping: a writer gets in.
        #expect(try PmemInfo.inspect(path: path).locked == false)
    }
}
