import ArgumentParser
import GuestMemory
import VpmemCore

/// Parses a size with K/M/G/T suffixes; the error names the problem and the fix.
func parseSize(_ text: String) throws -> ByteSize { try Parsers.size(text) }

/// Parses a guest-physical address: hexadecimal with 0x (`0x140000000`), or a size (`5G`).
func parseAddress(_ text: String) throws -> Gpa {
    if text.hasPrefix("0x") || text.hasPrefix("0X") {
        let digits = text.dropFirst(2)
        guard !digits.isEmpty, digits.allSatisfy(\.isHexDigit), let v = UInt64(digits, radix: 16) else {
            throw ValueError.notAddress(text)
        }
        return Gpa(v)
    }
    return Gpa(try parseSize(text).bytes)
}

struct JSONFlag: ParsableArguments {
    @Flag(name: .long, help: "Print JSON for scripts instead of text.")
    var json = false
}

/// Left-aligned columns for human output.
func table(_ header: [String], _ rows: [[String]]) -> String {
    let all = [header] + rows
    let widths = header.indices.map { i in all.map { $0[i].count }.max() ?? 0 }
    return all.map { row in
        row.enumerated().map { i, cell in
            i == row.count - 1 ? cell : cell.padding(toLength: widths[i], withPad: " ", startingAt: 0)
        }.joined(separator: "  ")
    }.joined(separator: "\n")
}

