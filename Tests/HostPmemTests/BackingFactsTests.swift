import Foundation
import Testing
@testable import HostPmem

@Suite struct BackingFactsTests {
    /// libpmem 1.12's rules (src/libpmem2/x86_64/init.c): clwb over clflushopt over clflush,
    /// each refusable by its variable; AVX and AVX512F on unless set to 0; MOVDIR64B only when
    /// asked for; PMEM_NO_MOVNT falls back to the generic copy; eADR or PMEM_NO_FLUSH=1 skip
    /// flushing, PMEM_NO_FLUSH=0 forces it back.
    @Test func libpmemChoiceFollowsLibpmemsRules() {
        let epyc: Set<String> = ["clflush", "clflushopt", "clwb", "sse2", "avx", "avx512f"]
        func choose(_ flags: Set<String>, _ env: [String: String] = [:], eADR: Bool? = false) -> LibpmemChoice {
            LibpmemChoice.decide(cpuFlags: flags, environment: { env[$0] }, autoFlush: eADR, hardwareDrain: false)
        }
        #expect(choose(epyc).flush == "clwb")
        #expect(choose(epyc).copy == "avx512f")
        #expect(choose(epyc).nonTemporalThreshold == 256)
        #expect(choose(epyc, ["PMEM_NO_CLWB": "1"]).flush == "clflushopt")
        #expect(choose(epyc, ["PMEM_NO_CLWB": "1", "PMEM_NO_CLFLUSHOPT": "1"]).flush == "clflush")
        #expect(choose(["clflush", "sse2"]).flush == "clflush")
        #expect(choose(epyc, ["PMEM_AVX512F": "0"]).copy == "avx")
        #expect(choose(epyc, ["PMEM_AVX512F": "0", "PMEM_AVX": "0"]).copy == "sse2")
        #expect(choose(epyc, ["PMEM_NO_MOVNT": "1"]).copy == "generic")
        #expect(choose(epyc.union(["movdir64b"])).copy == "avx512f")
        #expect(choose(epyc.union(["movdir64b"]), ["PMEM_MOVDIR64B": "1"]).copy == "movdir64b")
        #expect(choose(epyc, eADR: true).flush == "none (eADR)")
        #expect(choose(epyc, ["PMEM_NO_FLUSH": "0"], eADR: true).flush == "clwb")
        #expect(choose(epyc, ["PMEM_NO_FLUSH": "1"]).flush == "none (PMEM_NO_FLUSH=1)")
        #expect(choose(epyc, ["PMEM_MOVNT_THRESHOLD": "1024"]).nonTemporalThreshold == 1024)
        #expect(choose(epyc, ["PMEM_MOVNT_THRESHOLD": "-5"]).nonTemporalThreshold == 256)
        let forced = choose(epyc, ["PMEM_IS_PMEM_FORCE": "1", "PMEM_AVX": "0"])
        #expect(forced.pmemIsPmemForce == "1")
        #expect(forced.overrides == ["PMEM_AVX=0", "PMEM_IS_PMEM_FORCE=1"])
    }

    static let mountinfo = """
        22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
        30 22 0:25 / /dev/shm rw,nosuid,nodev shared:4 - tmpfs tmpfs rw
        41 22 259:0 / /mnt/pmem rw,relatime shared:20 - xfs /dev/pmem0 rw,attr2,dax=always
        42 22 259:1 / /mnt/pmem\\040one rw,relatime shared:21 - ext4 /dev/pmem1 rw
        43 41 259:0 /sub /srv/bound rw,relatime shared:20 - xfs /dev/pmem0 rw,attr2,dax=always
        """

    @Test func mountinfoFindsTheFilesystemByDeviceAndLongestMountPoint() throws {
        let root = try #require(MountFacts.find(major: 254, minor: 0, path: "/tmp/x.pmem", mountinfo: Self.mountinfo))
        #expect(root.mountPoint == "/" && root.fsType == "ext4" && !root.dax)
        let dax = try #require(MountFacts.find(major: 259, minor: 0, path: "/mnt/pmem/a", mountinfo: Self.mountinfo))
        #expect(dax.dax && dax.source == "/dev/pmem0")
        let bound = try #require(MountFacts.find(major: 259, minor: 0, path: "/srv/bound/a", mountinfo: Self.mountinfo))
        #expect(bound.mountPoint == "/srv/bound")
        let spaced = try #require(MountFacts.find(major: 259, minor: 1, path: "/mnt/pmem one/f", mountinfo: Self.mountinfo))
        #expect(spaced.mountPoint == "/mnt/pmem one" && !spaced.dax)
        #expect(MountFacts.find(major: 259, minor: 1, path: "/mnt/pmem/f", mountinfo: Self.mountinfo) == nil)
        #expect(MountFacts.find(major: 0, minor: 25, path: "/dev/shm/b", mountinfo: Self.mountinfo)?.volatile == true)
    }

    @Test func durabilityNamesTheMechanismAndWarnsWhereDataIsLostSilently() {
        func mount(_ fs: String, _ source: String, dax: Bool, block: String?) -> MountFacts {
            MountFacts(mountPoint: "/m", fsType: fs, source: source, dax: dax, blockDevice: block)
        }
        let devdax = BackingDurability.assess(kind: .devdax, isPmem: true, forced: false, mount: nil)
        #expect(devdax.durable && devdax.mechanism == .deviceDax && devdax.warnings.isEmpty)

        let daxFile = BackingDurability.assess(kind: .file, isPmem: true, forced: false, mount: mount("xfs", "/dev/pmem0", dax: true, block: "pmem0"))
        #expect(daxFile.durable && daxFile.mechanism == .daxMapSync)

        let disk = BackingDurability.assess(kind: .file, isPmem: false, forced: false, mount: mount("ext4", "/dev/vda", dax: false, block: "vda"))
        #expect(disk.durable && disk.mechanism == .msync && disk.warnings.isEmpty)

        // fsdax namespace with a filesystem mounted without -o dax: works, through the page cache.
        let noDax = BackingDurability.assess(kind: .file, isPmem: false, forced: false, mount: mount("ext4", "/dev/pmem1", dax: false, block: "pmem1"))
        #expect(noDax.durable && noDax.mechanism == .msync)
        #expect(noDax.warnings.count == 1 && noDax.warnings[0].contains("-o dax"))
        // dax=inode (no dax option shown) with the file's DAX attribute set: libpmem mapped it
        // with MAP_SYNC, so it is DAX; nothing to warn about.
        let perInode = BackingDurability.assess(kind: .file, isPmem: true, forced: false, mount: mount("xfs", "/dev/pmem1", dax: false, block: "pmem1"))
        #expect(perInode.durable && perInode.mechanism == .daxMapSync && perInode.warnings.isEmpty)
        // A BTT namespace cannot do DAX at all: the fix is the namespace's mode, not the mount.
        let btt = BackingDurability.assess(kind: .file, isPmem: false, forced: false, mount: mount("ext4", "/dev/pmem2s", dax: false, block: "pmem2s"))
        #expect(btt.warnings.count == 1 && btt.warnings[0].contains("sector (BTT) mode") && btt.warnings[0].contains("fsdax"))
        let partition = mount("ext4", "/dev/pmem12p1", dax: false, block: "pmem12p1")
        #expect(partition.onPmemBlockDevice && !partition.onSectorDevice)
        #expect(mount("ext4", "/dev/pmem12sp1", dax: false, block: "pmem12sp1").onSectorDevice)

        let forced = BackingDurability.assess(kind: .file, isPmem: true, forced: true, mount: mount("ext4", "/dev/vda", dax: false, block: "vda"))
        #expect(!forced.durable && forced.mechanism == .forcedFlushOnPageCache)
        #expect(forced.warnings.contains { $0.contains("PMEM_IS_PMEM_FORCE") })

        // Forcing on a real DAX mount changes nothing: MAP_SYNC made it pmem anyway.
        let forcedDax = BackingDurability.assess(kind: .file, isPmem: true, forced: true, mount: mount("xfs", "/dev/pmem0", dax: true, block: "pmem0"))
        #expect(forcedDax.durable && forcedDax.mechanism == .daxMapSync)

        let shm = BackingDurability.assess(kind: .file, isPmem: false, forced: false, mount: mount("tmpfs", "tmpfs", dax: false, block: nil))
        #expect(!shm.durable && shm.mechanism == .volatileMemory)
    }

    /// Every method copies the bytes it is given, on a real mapping (not pmem here: the
    /// flush-based methods still copy, msync is the one that persists).
    @Test func everyWriteMethodCopiesTheBytes() throws {
        let dir = TempDir()
        let m = try PmemMapping.create(path: dir.file("w.pmem"), size: 1 << 20)
        #expect(PmemWriteMethod.offered(isPmem: false) == PmemWriteMethod.allCases)
        #expect(!PmemWriteMethod.offered(isPmem: true).contains(.msync))
        for (i, method) in PmemWriteMethod.allCases.enumerated() {
            let bytes = (0..<5000).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ i) }
            let ok = try m.withUnsafeMutableBytes(offset: UInt64(i) * 8192, count: bytes.count) { dst in
                bytes.withUnsafeBytes { PmemPrimitives.write(method, to: dst.baseAddress!, from: $0.baseAddress!, count: bytes.count) }
            }.get()
            #expect(ok)
            #expect(try m.read(at: UInt64(i) * 8192, count: bytes.count) == bytes, "\(method)")
        }
    }

    @Test func factsOfAFileNameItsFilesystemAndDurability() throws {
        let dir = TempDir()
        let path = dir.file("f.pmem")
        let m = try PmemMapping.create(path: path, size: 1 << 20)
        let facts = BackingFacts.gather(path: path, isPmem: m.isPmem)
        #expect(facts.kind == .file && !facts.isPmem)
        let mount = try #require(facts.mount)
        #expect(path.hasPrefix(mount.mountPoint))
        #expect(facts.durability.mechanism == (mount.volatile ? .volatileMemory : .msync))
        #expect(facts.numaNode != nil || !facts.numaSource.isEmpty)
    }
}
