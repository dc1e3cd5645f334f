/// Named objects and namespace containers: Name, Scope, Device, Method, OperationRegion, Field,
/// CreateField and friends.

/// The address space of an OperationRegion.
public enum AmlRegionSpace: UInt8, Sendable {
    case systemMemory = 0, systemIO = 1, pciConfig = 2, embeddedControl = 3, smbus = 4, systemCMOS = 5
    case pciBarTarget = 6, ipmi = 7, generalPurposeIO = 8, genericSerialBus = 9, pcc = 0x0A
}

/// A Field's access width.
public enum AmlFieldAccess: UInt8, Sendable {
    case any = 0, byte = 1, word = 2, dword = 3, qword = 4, buffer = 5
}

/// What a write does to the bits of a Field's access unit it does not cover.
public enum AmlFieldUpdate: UInt8, Sendable {
    case preserve = 0, writeAsOnes = 1, writeAsZeros = 2
}

extension Aml {
    /// `Name (name, value)`.
    public static func name(_ name: AmlName, _ value: AmlTerm) -> AmlTerm {
        AmlTerm(.sequence([AmlTerm(.bytes([AmlOpcode.name])), path(name), value]))
    }

    /// `Scope (name) { body }`.
    public static func scope(_ name: AmlName, @AmlBuilder _ body: () -> [AmlTerm]) -> AmlTerm {
        AmlTerm(.package(opcode: [AmlOpcode.scope], what: "Scope (\(name))", contents: [path(name)] + body()))
    }

    /// `Device (name) { body }`.
    public static func device(_ name: AmlName, @AmlBuilder _ body: () -> [AmlTerm]) -> AmlTerm {
        AmlTerm(.package(opcode: [AmlOpcode.extOpPrefix, AmlOpcode.extDevice], what: "Device (\(name))",
                         contents: [path(name)] + body()))
    }

    /// `Method (name, arguments, Serialized|NotSerialized, syncLevel) { body }`.
    public static func method(_ name: AmlName, arguments: Int, serialized: Bool = false, syncLevel: Int = 0,
                              @AmlBuilder _ body: () -> [AmlTerm]) -> AmlTerm {
        guard (0...7).contains(arguments) else {
            return AmlTerm(.invalid(.invalidMethod(name.text, reason: "\(arguments) arguments; a method takes 0 to 7")))
        }
        guard (0...15).contains(syncLevel) else {
            return AmlTerm(.invalid(.invalidMethod(name.text, reason: "sync level \(syncLevel); use 0 to 15")))
        }
        let flags = UInt8(arguments) | (serialized ? 0x08 : 0) | UInt8(syncLevel) << 4
        return AmlTerm(.package(opcode: [AmlOpcode.method], what: "Method (\(name))",
                                contents: [path(name), AmlTerm(.bytes([flags]))] + body()))
    }

    /// `OperationRegion (name, space, offset, length)`.
    public static func operationRegion(_ name: AmlName, _ space: AmlRegionSpace, offset: AmlTerm, length: AmlTerm) -> AmlTerm {
        AmlTerm(.sequence([AmlTerm(.bytes([AmlOpcode.extOpPrefix, AmlOpcode.extOpRegion])), path(name),
                           AmlTerm(.bytes([space.rawValue])), offset, length]))
    }

    /// `Field (region, access, Lock|NoLock, update) { units }`.
    public static func field(_ region: AmlName, access: AmlFieldAccess, lock: Bool = false,
                             update: AmlFieldUpdate = .preserve,
                             @AmlFieldBuilder _ units: () -> [AmlFieldUnit]) -> AmlTerm {
        let flags = access.rawValue | (lock ? 0x10 : 0) | update.rawValue << 5
        return AmlTerm(.package(opcode: [AmlOpcode.extOpPrefix, AmlOpcode.extField], what: "Field (\(region))",
                                contents: [path(region), AmlTerm(.bytes([flags])),
                                           AmlTerm(.fieldList(owner: region.text, units: units()))]))
    }

    /// `CreateField (source, bitIndex, numBits, name)`.
    public static func createField(_ source: AmlTerm, bitIndex: AmlTerm, numBits: AmlTerm, _ name: AmlName) -> AmlTerm {
        AmlTerm(.sequence([AmlTerm(.bytes([AmlOpcode.extOpPrefix, AmlOpcode.extCreateField])),
                           source, bitIndex, numBits, path(name)]))
    }

    /// `CreateDWordField (source, byteIndex, name)`.
    public static func createDWordField(_ source: AmlTerm, byteIndex: AmlTerm, _ name: AmlName) -> AmlTerm {
        AmlTerm(.sequence([AmlTerm(.bytes([AmlOpcode.createDWordField])), source, byteIndex, path(name)]))
    }

    /// `CreateQWordField (source, byteIndex, name)`.
    public static func createQWordField(_ source: AmlTerm, byteIndex: AmlTerm, _ name: AmlName) -> AmlTerm {
        AmlTerm(.sequence([AmlTerm(.bytes([AmlOpcode.createQWordField])), source, byteIndex, path(name)]))
    }

    /// `CreateByteField (source, byteIndex, name)`.
    public static func createByteField(_ source: AmlTerm, byteIndex: AmlTerm, _ name: AmlName) -> AmlTerm {
        AmlTerm(.sequence([AmlTerm(.bytes([AmlOpcode.createByteField])), source, byteIndex, path(name)]))
    }

    /// `Mutex (name, syncLevel)`.
    public static func mutex(_ name: AmlName, syncLevel: Int = 0) -> AmlTerm {
        guard (0...15).contains(syncLevel) else {
            return AmlTerm(.invalid(.invalidMethod(name.text, reason: "mutex sync level \(syncLevel); use 0 to 15")))
        }
        return AmlTerm(.sequence([AmlTerm(.bytes([AmlOpcode.extOpPrefix, AmlOpcode.extMutex])), path(name),
                                  AmlTerm(.bytes([UInt8(syncLevel)]))]))
    }
}
