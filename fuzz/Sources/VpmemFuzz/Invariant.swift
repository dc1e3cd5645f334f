/// Stops the process when a fuzz invariant does not hold. fatalError traps in every build mode,
/// so libFuzzer records a crash, saves the input and prints `message`.
@inline(never)
func invariant(_ condition: Bool, _ message: @autoclosure () -> String,
               file: StaticString = #fileID, line: UInt = #line) {
    guard !condition else { return }
    fatalError("fuzz invariant violated: \(message())", file: file, line: line)
}
