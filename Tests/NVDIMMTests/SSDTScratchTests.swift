import Foundation
import Testing
import GuestMemory
@testable import NVDIMM

@Test func scratchSSDT() throws {
    let d = [VirtualNVDIMM(slot: 0, base: Gpa(0x1_0000_0000), size: 1 << 30)]
    let t = try SSDTBuilder(nvdimms: d, dsmPage: Gpa(0xFEFF_0000)).table()
    let (r, dsl) = try AcpiTools.disassemble(t, name: "ssdt")
    print(r.status, r.output)
    print(dsl)
    let e = try AcpiTools.acpiexec(t, commands: "evaluate \\_SB.NVDR.NV00._ADR; evaluate \\_SB.NVDR.NV00._DSM (30 ac 09 43 11 0d e4 11 91 91 08 00 20 0c 9a 66) 1 4 [(01 02 03 04 05 06 07 08)]; evaluate \\_SB.NVDR._FIT", options: ["-vr"])
    print(e.output)
}
