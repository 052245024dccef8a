/// Keys and values shown in traces and errors.
public enum KVText {
    /// Bytes as text when printable, else as hex, for traces and errors.
    public static func show(_ bytes: [UInt8]?) -> String {
        guard let bytes else { return "nil" }
        if bytes.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) { return String(decoding: bytes, as: UTF8.self) }
        return "0x" + bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }
}
