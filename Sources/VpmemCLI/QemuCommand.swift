#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import DomainModel
import Foundation
import HostPmem
import VpmemCore
import VpmemHost

struct QemuCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "qemu",
        abstract: "Print (or run) the QEMU command line that boots a modelled guest as a real VM.",
        discussion: """
            The VM gets the guest's RAM, vCPUs and vNVDIMMs: each vNVDIMM a memory-backend-file on its \
            backing (data + label area, share=on, pmem=on where libpmem finds real pmem) and an nvdimm \
            device with its slot, node, label size and unarmed flag, its address pinned to vpmem's \
            placement. The guest's NFIT then equals `vpmem acpi dump`'s from byte 36 on. Arguments \
            after `--` are appended. With --exec vpmem runs QEMU and exits with its status, holding \
            each backing's lock while the VM runs so no other vpmem writes under it.
            """)
    @OptionGroup var hostOption: HostOption
    @Argument(help: "The guest's name, or a config file.") var config: String
    @Option(help: "A kernel to boot (-kernel).") var kernel: String?
    @Option(help: "An initramfs (-initrd).") var initrd: String?
    @Option(help: "The kernel command line (-append).") var append: String?
    @Option(help: "kvm, tcg, or auto: kvm when /dev/kvm can be opened.") var accel: String = "auto"
    @Option(help: "The QEMU binary.") var qemu: String = "qemu-system-x86_64"
    @Flag(help: "Run QEMU instead of printing the command.") var exec = false
    @OptionGroup var output: JSONFlag
    @Argument(parsing: .postTerminator, help: "Extra QEMU arguments, after --.") var extra: [String] = []

    struct Report: Encodable {
        let argv: [String]
        let command: String
        let device_memory_base: UInt64
        let ram_below_4g: UInt64
        let ram_above_4g: UInt64
        let slots: Int
        let maxmem: UInt64
        let nvdimms: [QEMUCommandLine.Device]
    }

    func accelerator() throws -> QEMUCommandLine.Accelerator {
        switch accel {
        case "auto": return open("/dev/kvm", O_RDWR).closingIfOpen() ? .kvm : .tcg
        case "kvm": return .kvm
        case "tcg": return .tcg
        default: throw ValidationError("--accel \(Echo.quoted(accel)) is not known: use kvm, tcg or auto")
        }
    }

    /// The command, and the backings to hold while it runs. The host is closed on return.
    func build() throws -> (QEMUCommandLine, [QEMUCommandLine.Device]) {
        var options = QEMUCommandLine.Options()
        options.binary = qemu
        options.accelerator = try accelerator()
        options.kernel = kernel
        options.initrd = initrd
        options.append = append
        options.extra = extra
        let target = try GuestTarget.resolve(config, host: hostOption, change: false)
        let guest = try target.guest(.inspect)
        guard !guest.nvdimms.isEmpty else {
            throw RequestFailure(problem: "guest '\(guest.config.name)' has no vNVDIMMs", fix: "attach one first (vpmem nvdimm attach), or boot it with QEMU directly")
        }
        let line = try QEMUCommandLine(guest: guest, options: options)
        return (line, line.devices)
    }

    func run() async throws {
        let (line, devices) = try build()
        if !exec {
            if output.json {
                print(try JSONOutput.encode(Report(
                    argv: line.argv, command: line.shellCommand, device_memory_base: line.machine.deviceMemoryBase,
                    ram_below_4g: line.machine.ramBelow4G, ram_above_4g: line.machine.ramAbove4G, slots: line.slots, maxmem: line.maxmem,
                    nvdimms: devices)))
            } else {
                print(line.shellCommand)
            }
            return
        }
        // Hold every backing's lock (a read-only one is opened read-only) while the VM runs.
        var held: [PmemMapping] = []
        for d in devices {
            held.append(try PmemMapping.open(path: d.backing, expectedSize: d.backendSize, access: d.readOnly ? .readOnly : .readWrite))
        }
        let status = try QemuProcess.run(line.argv)
        withExtendedLifetime(held) {}
        if status != 0 { throw ExitCode(status) }
    }
}

extension Int32 {
    /// For `open`: whether it opened (closing the descriptor again).
    fileprivate func closingIfOpen() -> Bool {
        guard self >= 0 else { return false }
        close(self)
        return true
    }
}

/// Runs QEMU in the foreground with this process's standard streams, and returns its exit status.
enum QemuProcess {
    static func run(_ argv: [String]) throws -> Int32 {
        var pid: pid_t = 0
        let cArgs = argv.map { strdup($0) } + [nil]
        defer { for p in cArgs { free(p) } }
        // The terminal's Ctrl-C goes to QEMU; vpmem waits for it to finish.
        let oldInt = signal(SIGINT, SIG_IGN)
        defer { signal(SIGINT, oldInt) }
        // ... and QEMU gets SIGINT's default action back (an ignored signal stays ignored
        // across exec otherwise).
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGINT)
        posix_spawnattr_setsigdefault(&attr, &defaults)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGDEF))
        let rc = posix_spawnp(&pid, argv[0], nil, &attr, cArgs, environ)
        guard rc == 0 else {
            throw RequestFailure(problem: "cannot run \(argv[0]): \(String(cString: strerror(rc)))", fix: "install QEMU (apt-get install qemu-system-x86) or give --qemu PATH")
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            guard errno == EINTR else { throw RequestFailure(problem: "waiting for \(argv[0]) failed: \(String(cString: strerror(errno)))", fix: "see whether QEMU is still running") }
        }
        let exited = status & 0x7f == 0
        return exited ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    }
}
