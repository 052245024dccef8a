/// SQLite's date and time functions — date, time, datetime, julianday, unixepoch,
/// strftime — over ISO 8601 text, with the modifiers '±N days|hours|minutes|seconds|
/// months|years', 'start of day|month|year' and 'unixepoch'. Times are UTC. There is no
/// 'now': the engine has no wall clock of its own; pass the time as a parameter.
enum DateFunctions {
    static func call(_ function: String, _ name: Name, _ values: [SQLValue]) throws(SQLError) -> SQLValue {
        var arguments = values
        var format: String?
        if function == "strftime" {
            guard arguments.count >= 2 else { throw ScalarFunctions.wrongArity(name, "2 or more", arguments.count) }
            guard let text = arguments.removeFirst().textValue else { return .null }
            format = text
        }
        guard !arguments.isEmpty else { throw ScalarFunctions.wrongArity(name, function == "strftime" ? "2 or more" : "1 or more", values.count) }
        if arguments.contains(where: \.isNull) { return .null }
        var moment: Int64?
        var unixModifier = false
        if arguments.count > 1, arguments.dropFirst().contains(where: { $0.textValue?.lowercased() == "unixepoch" }) { unixModifier = true }
        if unixModifier {
            guard let seconds = arguments[0].numeric?.asDouble else { return .null }
            moment = Int64((seconds * 1000).rounded())
        } else {
            moment = try parse(arguments[0], name)
        }
        guard var milliseconds = moment else { return .null }
        for modifier in arguments.dropFirst() {
            guard let text = modifier.textValue?.lowercased().trimmingSpaces else { return .null }
            if text == "unixepoch" { continue }
            guard let adjusted = apply(text, to: milliseconds) else { return .null }
            milliseconds = adjusted
        }
        switch function {
        case "date": return .text(render("%Y-%m-%d", milliseconds))
        case "time": return .text(render("%H:%M:%S", milliseconds))
        case "datetime": return .text(render("%Y-%m-%d %H:%M:%S", milliseconds))
        case "julianday": return .real(Double(milliseconds) / 86_400_000 + 2_440_587.5)
        case "unixepoch": return .integer(CivilCalendar.floorDivide(milliseconds, 1000))
        default: return .text(render(format!, milliseconds))
        }
    }

    /// Milliseconds since 1970-01-01 UTC, or nil when the text is not a date.
    static func parse(_ value: SQLValue, _ name: Name) throws(SQLError) -> Int64? {
        switch value {
        case let .integer(julian): return Int64(((Double(julian) - 2_440_587.5) * 86_400_000).rounded())
        case let .real(julian): return Int64(((julian - 2_440_587.5) * 86_400_000).rounded())
        case let .text(text):
            if text.lowercased() == "now" {
                throw SQLError(.runtime, "'now' is not available in Aegis SQL: pass the current time as a parameter", at: name.position, length: name.text.count)
            }
            return parseText(text)
        default: return nil
        }
    }

    static func parseText(_ raw: String) -> Int64? {
        var text = Array(raw.trimmingSpaces)
        if text.last == "Z" || text.last == "z" { text.removeLast() }
        var index = 0
        func number(_ digits: Int) -> Int64? {
            guard index + digits <= text.count else { return nil }
            var value: Int64 = 0
            for character in text[index..<(index + digits)] {
                guard let digit = character.wholeNumberValue, character.isASCII else { return nil }
                value = value * 10 + Int64(digit)
            }
            index += digits
            return value
        }
        func expect(_ character: Character) -> Bool {
            guard index < text.count, text[index] == character else { return false }
            index += 1
            return true
        }
        var days: Int64 = CivilCalendar.days(2000, 1, 1)
        if text.count >= 10, text[4] == "-" {
            guard let year = number(4), expect("-"), let month = number(2), expect("-"), let day = number(2),
                  (1...12).contains(month), (1...CivilCalendar.daysIn(year, month)).contains(day) else { return nil }
            days = CivilCalendar.days(year, month, day)
            if index == text.count { return days * 86_400_000 }
            guard expect(" ") || expect("T") || expect("t") else { return nil }
        }
        guard let hour = number(2), expect(":"), let minute = number(2), hour < 24, minute < 60 else { return nil }
        var milliseconds = (hour * 3600 + minute * 60) * 1000
        if expect(":") {
            guard let second = number(2), second < 60 else { return nil }
            milliseconds += second * 1000
            if expect(".") {
                var scale: Int64 = 100
                var fraction: Int64 = 0
                while index < text.count, let digit = text[index].wholeNumberValue, text[index].isASCII {
                    fraction += Int64(digit) * scale
                    scale /= 10
                    index += 1
                }
                milliseconds += fraction
            }
        }
        guard index == text.count else { return nil }
        return days * 86_400_000 + milliseconds
    }

    static func apply(_ modifier: String, to milliseconds: Int64) -> Int64? {
        let days = CivilCalendar.floorDivide(milliseconds, 86_400_000)
        let (year, month, day) = CivilCalendar.date(days)
        switch modifier {
        case "start of day": return days * 86_400_000
        case "start of month": return CivilCalendar.days(year, month, 1) * 86_400_000
        case "start of year": return CivilCalendar.days(year, 1, 1) * 86_400_000
        default: break
        }
        let parts = modifier.split(separator: " ", omittingEmptySubsequences: true)
        guard parts.count == 2, let amount = Double(parts[0]) else { return nil }
        var unit = String(parts[1])
        if unit.hasSuffix("s") { unit.removeLast() }
        switch unit {
        case "day": return milliseconds + Int64((amount * 86_400_000).rounded())
        case "hour": return milliseconds + Int64((amount * 3_600_000).rounded())
        case "minute": return milliseconds + Int64((amount * 60_000).rounded())
        case "second": return milliseconds + Int64((amount * 1000).rounded())
        case "month", "year":
            guard amount == amount.rounded() else { return nil }
            let months = Int64(amount) * (unit == "year" ? 12 : 1)
            let total = year * 12 + (month - 1) + months
            let newYear = CivilCalendar.floorDivide(total, 12)
            let newMonth = total - newYear * 12 + 1
            // Like SQLite, a day past the month's end rolls into the next month.
            let shifted = CivilCalendar.days(newYear, newMonth, 1) + day - 1
            return shifted * 86_400_000 + (milliseconds - days * 86_400_000)
        default:
            return nil
        }
    }

    static func render(_ format: String, _ milliseconds: Int64) -> String {
        let days = CivilCalendar.floorDivide(milliseconds, 86_400_000)
        let within = milliseconds - days * 86_400_000
        let (year, month, day) = CivilCalendar.date(days)
        func pad(_ value: Int64, _ width: Int) -> String {
            let text = String(value)
            return text.count >= width ? text : String(repeating: "0", count: width - text.count) + text
        }
        var output = ""
        var characters = Array(format).makeIterator()
        while let character = characters.next() {
            guard character == "%" else {
                output.append(character)
                continue
            }
            switch characters.next() {
            case "Y"?: output += pad(year, 4)
            case "m"?: output += pad(month, 2)
            case "d"?: output += pad(day, 2)
            case "H"?: output += pad(within / 3_600_000, 2)
            case "M"?: output += pad(within / 60_000 % 60, 2)
            case "S"?: output += pad(within / 1000 % 60, 2)
            case "f"?: output += pad(within / 1000 % 60, 2) + "." + pad(within % 1000, 3)
            case "j"?: output += pad(days - CivilCalendar.days(year, 1, 1) + 1, 3)
            case "s"?: output += String(CivilCalendar.floorDivide(milliseconds, 1000))
            case "w"?: output += String(((days % 7) + 11) % 7)
            case "%"?: output += "%"
            case let other?: output += "%" + String(other)
            case nil: output += "%"
            }
        }
        return output
    }

}

extension String {
    var trimmingSpaces: String {
        var slice = Substring(self)
        while slice.first == " " { slice = slice.dropFirst() }
        while slice.last == " " { slice = slice.dropLast() }
        return String(slice)
    }
}
