import Foundation
import Testing
@testable import NVDIMM

/// Every construct of the AML builder, compared byte for byte with what iasl compiles from the
/// equivalent ASL.
@Suite struct AmlBuilderTests {
    func expectSame(_ asl: String, revision: Int = 2, @AmlBuilder _ terms: () -> [AmlTerm],
                    sourceLocation: SourceLocation = #_sourceLocation) throws {
        let expected = try AcpiTools.compileBody(asl, revision: revision)
        let ours = try Aml.sequence(terms()).encode(AmlEncoding(definitionBlockRevision: UInt8(revision)))
        #expect(ours == expected, "\nours: \(ours.hex)\niasl: \(expected.hex)", sourceLocation: sourceLocation)
    }

    @Test func integersUseTheShortestEncoding() throws {
        try expectSame("""
            Name (IA, 0) Name (IB, 1) Name (IC, 0x2A) Name (ID, 0xFF) Name (IE, 0x100) Name (IFF, 0x1234)
            Name (IG, 0x10000) Name (IH, 0x12345678) Name (II, 0x123456789A) Name (IJ, 0xFFFFFFFF)
            Name (IK, 0xFFFFFFFFFFFFFFFF) Name (IL, Ones)
            """) {
            Aml.name("IA", Aml.integer(0)); Aml.name("IB", Aml.integer(1)); Aml.name("IC", Aml.integer(0x2A))
            Aml.name("ID", Aml.integer(0xFF)); Aml.name("IE", Aml.integer(0x100)); Aml.name("IFF", Aml.integer(0x1234))
            Aml.name("IG", Aml.integer(0x10000)); Aml.name("IH", Aml.integer(0x12345678))
            Aml.name("II", Aml.integer(0x12_3456_789A)); Aml.name("IJ", Aml.integer(0xFFFF_FFFF))
            Aml.name("IK", Aml.integer(UInt64.max)); Aml.name("IL", Aml.ones)
        }
    }

    @Test func revisionOneTablesHave32BitIntegers() throws {
        try expectSame("Name (IJ, 0xFFFFFFFF) Name (IH, 0xFFFFFFFE) Name (IL, Ones)", revision: 1) {
            Aml.name("IJ", Aml.integer(0xFFFF_FFFF)); Aml.name("IH", Aml.integer(0xFFFF_FFFE)); Aml.name("IL", Aml.ones)
        }
        // Wider than 32 bits in a revision 1 block: an error naming the value, never a truncation.
        #expect(throws: AmlError.integerTooWide(0x1_0000_0000, bits: 32)) {
            try Aml.name("X", Aml.integer(0x1_0000_0000)).encode(AmlEncoding(definitionBlockRevision: 1))
        }
        #expect(throws: AmlError.integerTooWide(UInt64(truncatingIfNeeded: -1), bits: 64)) {
            try Aml.integer(-1).encode()
        }
    }

    @Test func stringsBuffersPackagesAndUUIDs() throws {
        try expectSame("""
            Name (STR, "ACPI0012") Name (EMP, "")
            Name (BUF, Buffer () { 0x01, 0x02, 0xFF })
            Name (BF0, Buffer (Zero) {})
            Name (BF1, Buffer (0x10) { 0x01 })
            Name (PKG, Package () { 1, "x", Package () { 0x1234, Buffer () { 0x00 } } })
            Name (UID, ToUUID ("4309AC30-0D11-11E4-9191-0800200C9A66"))
            """) {
            Aml.name("STR", Aml.string("ACPI0012")); Aml.name("EMP", Aml.string(""))
            Aml.name("BUF", Aml.buffer([1, 2, 0xFF]))
            Aml.name("BF0", Aml.buffer(size: Aml.zero, []))
            Aml.name("BF1", Aml.buffer(size: Aml.integer(16), [1]))
            Aml.name("PKG", Aml.package {
                Aml.one; Aml.string("x")
                Aml.package { Aml.integer(0x1234); Aml.buffer([0]) }
            })
            Aml.name("UID", Aml.uuid("4309AC30-0D11-11E4-9191-0800200C9A66"))
        }
        #expect(throws: AmlError.invalidString("é", reason: "it contains non-ASCII characters")) { try Aml.string("é").encode() }
        #expect(throws: AmlError.invalidUUID("4309AC30-0D11")) { try Aml.uuid("4309AC30-0D11").encode() }
    }

    @Test func namesScopesDevicesAndPaths() throws {
        try expectSame("""
            Scope (\\_SB) {
                Device (PCI0) {
                    Name (_HID, "PNP0A03")
                    Device (FOO) { Name (BAR, 0x07) Name (B, 0x08) }
                    Method (M0, 0) { Return (^FOO.BAR) }
                }
            }
            Method (MAIN, 0) {
                Store (\\_SB.PCI0.FOO.BAR, Local0)
                Return (Local0)
            }
            Scope (\\_SB.PCI0.FOO) { Method (UP, 0) { Return (^^FOO.B) } }
            """) {
            Aml.scope("\\_SB") {
                Aml.device("PCI0") {
                    Aml.name("_HID", Aml.string("PNP0A03"))
                    Aml.device("FOO") { Aml.name("BAR", Aml.integer(7)); Aml.name("B", Aml.integer(8)) }
                    Aml.method("M0", arguments: 0) { Aml.return(Aml.path("^FOO.BAR")) }
                }
            }
            Aml.method("MAIN", arguments: 0) {
                Aml.store(Aml.path("\\_SB.PCI0.FOO.BAR"), Aml.local(0))
                Aml.return(Aml.local(0))
            }
            Aml.scope("\\_SB.PCI0.FOO") { Aml.method("UP", arguments: 0) { Aml.return(Aml.path("^^FOO.B")) } }
        }
    }

    @Test func methodsWithControlFlowStoresAndArithmetic() throws {
        try expectSame("""
            Method (ARTH, 3, Serialized, 3) {
                Store (Arg0, Local0)
                Add (Local0, Arg1, Local1)
                Subtract (Local1, 0x04, Local1)
                Multiply (Local1, 0x03, Local2)
                Divide (Local2, 0x05, Local3, Local4)
                ShiftLeft (Local4, 0x03, Local5)
                ShiftRight (Local5, One, Local5)
                And (Local5, 0xFF, Local6)
                Or (Local6, 0x0100, Local6)
                XOr (Local6, Arg2, Local7)
                Not (Local7, Local7)
                Mod (Local7, 0x07, Local0)
                Increment (Local0)
                Decrement (Local0)
                While (LLess (Local0, 0x10)) {
                    If (LEqual (Local0, 0x08)) { Break }
                    ElseIf (LGreater (Local0, 0x0C)) { Noop }
                    Else { Increment (Local0) }
                    If (LAnd (LNotEqual (Arg0, Zero), LOr (LLessEqual (Arg1, One), LGreaterEqual (Arg2, 0x02)))) {
                        Return (Add (Local0, One))
                    }
                }
                Return (LNot (Local0))
            }
            """) {
            Aml.method("ARTH", arguments: 3, serialized: true, syncLevel: 3) {
                Aml.store(Aml.arg(0), Aml.local(0))
                Aml.add(Aml.local(0), Aml.arg(1), Aml.local(1))
                Aml.subtract(Aml.local(1), Aml.integer(4), Aml.local(1))
                Aml.multiply(Aml.local(1), Aml.integer(3), Aml.local(2))
                Aml.divide(Aml.local(2), Aml.integer(5), remainder: Aml.local(3), quotient: Aml.local(4))
                Aml.shiftLeft(Aml.local(4), Aml.integer(3), Aml.local(5))
                Aml.shiftRight(Aml.local(5), Aml.one, Aml.local(5))
                Aml.and(Aml.local(5), Aml.integer(0xFF), Aml.local(6))
                Aml.or(Aml.local(6), Aml.integer(0x100), Aml.local(6))
                Aml.xor(Aml.local(6), Aml.arg(2), Aml.local(7))
                Aml.not(Aml.local(7), Aml.local(7))
                Aml.mod(Aml.local(7), Aml.integer(7), Aml.local(0))
                Aml.increment(Aml.local(0))
                Aml.decrement(Aml.local(0))
                Aml.whileLoop(Aml.lLess(Aml.local(0), Aml.integer(16))) {
                    Aml.ifThen(Aml.lEqual(Aml.local(0), Aml.integer(8))) { Aml.break } otherwise: {
                        Aml.ifThen(Aml.lGreater(Aml.local(0), Aml.integer(12))) { Aml.noop } otherwise: {
                            Aml.increment(Aml.local(0))
                        }
                    }
                    Aml.ifThen(Aml.lAnd(Aml.lNotEqual(Aml.arg(0), Aml.zero),
                                        Aml.lOr(Aml.lLessEqual(Aml.arg(1), Aml.one), Aml.lGreaterEqual(Aml.arg(2), Aml.integer(2))))) {
                        Aml.return(Aml.add(Aml.local(0), Aml.one))
                    }
                }
                Aml.return(Aml.lNot(Aml.local(0)))
            }
        }
    }

    @Test func operationRegionsFieldsAndBufferFields() throws {
        try expectSame("""
            OperationRegion (NPIO, SystemIO, 0x0A18, 0x04)
            Field (NPIO, DWordAcc, NoLock, Preserve) { NTFI, 32 }
            OperationRegion (NRAM, SystemMemory, 0xFEFF0000, 0x1000)
            Field (NRAM, ByteAcc, Lock, WriteAsZeros) { HDLE, 32, , 16, REVS, 8, Offset (0x10), FUNC, 1, FARG, 32000 }
            Field (NRAM, AnyAcc, NoLock, WriteAsOnes) { Offset (0x200), BIG, 2048 }
            Method (BFLD, 1) {
                Store (Buffer (0x10) {}, Local0)
                CreateDWordField (Local0, Zero, DW0)
                CreateQWordField (Local0, 0x04, QW0)
                CreateByteField (Local0, 0x0C, BY0)
                CreateField (Local0, 0x68, ShiftLeft (Arg0, 0x03), FLD0)
                Mid (Local0, One, 0x02, Local1)
                Concatenate (Local1, Buffer () { 0x05 }, Local2)
                Store (SizeOf (Local2), Local3)
                Store (ObjectType (Local2), Local4)
                Store (Index (Local2, One), Local5)
                Store (DerefOf (Local5), Local6)
                Store (ToInteger (Local6), Local7)
                Store (ToBuffer (Local7), Debug)
                Return (RefOf (DW0))
            }
            """) {
            Aml.operationRegion("NPIO", .systemIO, offset: Aml.integer(0x0A18), length: Aml.integer(4))
            Aml.field("NPIO", access: .dword) { AmlFieldUnit.named("NTFI", bits: 32) }
            Aml.operationRegion("NRAM", .systemMemory, offset: Aml.integer(0xFEFF_0000), length: Aml.integer(0x1000))
            Aml.field("NRAM", access: .byte, lock: true, update: .writeAsZeros) {
                AmlFieldUnit.named("HDLE", bits: 32)
                AmlFieldUnit.reserved(bits: 16)
                AmlFieldUnit.named("REVS", bits: 8)
                AmlFieldUnit.offset(byte: 0x10)
                AmlFieldUnit.named("FUNC", bits: 1)
                AmlFieldUnit.named("FARG", bits: 32000)
            }
            Aml.field("NRAM", access: .any, update: .writeAsOnes) {
                AmlFieldUnit.offset(byte: 0x200)
                AmlFieldUnit.named("BIG", bits: 2048)
            }
            Aml.method("BFLD", arguments: 1) {
                Aml.store(Aml.buffer(size: Aml.integer(16), []), Aml.local(0))
                Aml.createDWordField(Aml.local(0), byteIndex: Aml.zero, "DW0")
                Aml.createQWordField(Aml.local(0), byteIndex: Aml.integer(4), "QW0")
                Aml.createByteField(Aml.local(0), byteIndex: Aml.integer(12), "BY0")
                Aml.createField(Aml.local(0), bitIndex: Aml.integer(0x68), numBits: Aml.shiftLeft(Aml.arg(0), Aml.integer(3)), "FLD0")
                Aml.mid(Aml.local(0), Aml.one, Aml.integer(2), Aml.local(1))
                Aml.concatenate(Aml.local(1), Aml.buffer([5]), Aml.local(2))
                Aml.store(Aml.sizeOf(Aml.local(2)), Aml.local(3))
                Aml.store(Aml.objectType(Aml.local(2)), Aml.local(4))
                Aml.store(Aml.index(Aml.local(2), Aml.one), Aml.local(5))
                Aml.store(Aml.derefOf(Aml.local(5)), Aml.local(6))
                Aml.store(Aml.toInteger(Aml.local(6)), Aml.local(7))
                Aml.store(Aml.toBuffer(Aml.local(7)), Aml.debug)
                Aml.return(Aml.refOf(Aml.path("DW0")))
            }
        }
        #expect(throws: AmlError.invalidField("NRAM", reason: "Offset(2) is behind the current bit position 32")) {
            try Aml.field("NRAM", access: .byte) {
                AmlFieldUnit.named("HDLE", bits: 32)
                AmlFieldUnit.offset(byte: 2)
            }.encode()
        }
    }

    @Test func methodCallsMutexesAndNotify() throws {
        try expectSame("""
            Mutex (MTX0, 0x02)
            Device (DEV0) { Name (_ADR, Zero) }
            Method (CALE, 5, NotSerialized) { Return (Arg4) }
            Method (CALR, 0) {
                Acquire (MTX0, 0xFFFF)
                Store (CALE (One, 0x02, "s", Package () { 0x03 }, Buffer () { 0x04 }), Local0)
                Release (MTX0)
                Notify (DEV0, 0x80)
                Return (Local0)
            }
            """) {
            Aml.mutex("MTX0", syncLevel: 2)
            Aml.device("DEV0") { Aml.name("_ADR", Aml.zero) }
            Aml.method("CALE", arguments: 5) { Aml.return(Aml.arg(4)) }
            Aml.method("CALR", arguments: 0) {
                Aml.acquire("MTX0", timeout: 0xFFFF)
                Aml.store(Aml.call("CALE", Aml.one, Aml.integer(2), Aml.string("s"), Aml.package([Aml.integer(3)]), Aml.buffer([4])),
                          Aml.local(0))
                Aml.release("MTX0")
                Aml.notify(Aml.path("DEV0"), Aml.integer(0x80))
                Aml.return(Aml.local(0))
            }
        }
    }

    /// A body of 60 bytes keeps a 1-byte PkgLength; ~600 bytes needs 2; ~7000 needs 3.
    @Test(arguments: [8, 90, 1000])
    func methodBodiesNeedingLongerPkgLengths(statements: Int) throws {
        var asl = "Method (LONG, 1) {\n"
        for i in 0..<statements { asl += "Store (0x\(String(0x1000_0000 + i, radix: 16)), Local0)\n" }
        asl += "Return (Local0)\n}\n"
        let term = Aml.method("LONG", arguments: 1) {
            for i in 0..<statements { Aml.store(Aml.integer(0x1000_0000 + i), Aml.local(0)) }
            Aml.return(Aml.local(0))
        }
        try expectSame(asl) { term }
        let bytes = try term.encode()
        let bodyLength = 4 + 1 + statements * 7 + 2  // name, flags, stores, return
        let width = Int(bytes[1] >> 6) + 1
        let expectedWidth = bodyLength + 1 <= 63 ? 1 : bodyLength + 2 <= 0xFFF ? 2 : 3
        #expect(width == expectedWidth)
        #expect(bytes.count == 1 + width + bodyLength)
    }

    @Test func pkgLengthBoundaries() throws {
        // A package whose contents are 62 bytes fits in one PkgLength byte (63 total); 63 does not.
        #expect(try PkgLength.forPackage(contentLength: 62, what: "t") == [63])
        #expect(try PkgLength.forPackage(contentLength: 63, what: "t") == [0x41, 0x04])  // 65 = 0x41
        #expect(try PkgLength.forPackage(contentLength: 0xFFD, what: "t") == [0x4F, 0xFF])
        #expect(try PkgLength.forPackage(contentLength: 0xFFE, what: "t") == [0x81, 0x00, 0x01])
        #expect(try PkgLength.forPackage(contentLength: 0xFFFFC, what: "t") == [0x8F, 0xFF, 0xFF])
        #expect(try PkgLength.forPackage(contentLength: 0xFFFFD, what: "t") == [0xC1, 0x00, 0x00, 0x01])
        #expect(throws: AmlError.pkgLengthTooLarge(what: "t", length: 0xFFF_FFFC)) {
            try PkgLength.forPackage(contentLength: 0xFFF_FFFC, what: "t")
        }
        #expect(try PkgLength.forValue(32672, what: "f") == [0x80, 0xFA, 0x07])  // 0x7FA0 needs 3 bytes
        #expect(try PkgLength.forValue(32, what: "f") == [32])
    }

    @Test func invalidNamesAreErrorsNotTraps() throws {
        #expect(throws: AmlError.invalidName("TOOLONG", reason: "segment 'TOOLONG' is longer than 4 characters")) {
            try AmlName(parsing: "TOOLONG")
        }
        #expect(throws: AmlError.invalidName("1ABC", reason: "a segment cannot start with a digit")) { try AmlName(parsing: "1ABC") }
        #expect(throws: AmlError.invalidName("ab", reason: "character 'a' is not A-Z, 0-9 or _")) { try AmlName(parsing: "ab") }
        #expect(throws: AmlError.invalidName("\\_SB..X", reason: "empty segment")) { try AmlName(parsing: "\\_SB..X") }
        // A bad literal is carried to encode time, naming the offender.
        #expect(throws: AmlError.invalidName("NVDIMM", reason: "segment 'NVDIMM' is longer than 4 characters")) {
            try Aml.device("NVDIMM") {}.encode()
        }
        #expect(throws: AmlError.invalidName("Local8", reason: "methods have Local0 to Local7")) { try Aml.local(8).encode() }
        #expect(throws: AmlError.self) { try Aml.method("M", arguments: 8) {}.encode() }
        #expect(try AmlName(parsing: "\\").segments == [])
        #expect(try AmlName(parsing: "^^A.B").segments == ["A___", "B___"])
    }
}
