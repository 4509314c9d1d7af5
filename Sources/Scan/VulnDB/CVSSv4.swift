import Foundation

/// CVSS v4.0 scoring as FIRST's reference calculator does it: the vector's MacroVector
/// (EQ1–EQ6) selects a score from the published lookup table, then the score is lowered
/// by the mean proportional distance to the MacroVector's most severe vectors.
enum CVSSv4 {
    /// The published MacroVector scores (CVSS v4.0 specification, FIRST).
    static let lookup: [String: Double] = {
        var out: [String: Double] = [:]
        for item in table.split(whereSeparator: { $0 == " " || $0 == "\n" }) {
            let kv = item.split(separator: ":")
            if kv.count == 2, let v = Double(kv[1]) { out[String(kv[0])] = v }
        }
        return out
    }()

    private static let table = """
        000000:10 000001:9.9 000010:9.8 000011:9.5 000020:9.5 000021:9.2 000100:10 000101:9.6 000110:9.3
        000111:8.7 000120:9.1 000121:8.1 000200:9.3 000201:9 000210:8.9 000211:8 000220:8.1 000221:6.8
        001000:9.8 001001:9.5 001010:9.5 001011:9.2 001020:9 001021:8.4 001100:9.3 001101:9.2 001110:8.9
        001111:8.1 001120:8.1 001121:6.5 001200:8.8 001201:8 001210:7.8 001211:7 001220:6.9 001221:4.8
        002001:9.2 002011:8.2 002021:7.2 002101:7.9 002111:6.9 002121:5 002201:6.9 002211:5.5 002221:2.7
        010000:9.9 010001:9.7 010010:9.5 010011:9.2 010020:9.2 010021:8.5 010100:9.5 010101:9.1 010110:9
        010111:8.3 010120:8.4 010121:7.1 010200:9.2 010201:8.1 010210:8.2 010211:7.1 010220:7.2 010221:5.3
        011000:9.5 011001:9.3 011010:9.2 011011:8.5 011020:8.5 011021:7.3 011100:9.2 011101:8.2 011110:8
        011111:7.2 011120:7 011121:5.9 011200:8.4 011201:7 011210:7.1 011211:5.2 011220:5 011221:3 012001:8.6
        012011:7.5 012021:5.2 012101:7.1 012111:5.2 012121:2.9 012201:6.3 012211:2.9 012221:1.7 100000:9.8
        100001:9.5 100010:9.4 100011:8.7 100020:9.1 100021:8.1 100100:9.4 100101:8.9 100110:8.6 100111:7.4
        100120:7.7 100121:6.4 100200:8.7 100201:7.5 100210:7.4 100211:6.3 100220:6.3 100221:4.9 101000:9.4
        101001:8.9 101010:8.8 101011:7.7 101020:7.6 101021:6.7 101100:8.6 101101:7.6 101110:7.4 101111:5.8
        101120:5.9 101121:5 101200:7.2 101201:5.7 101210:5.7 101211:5.2 101220:5.2 101221:2.5 102001:8.3
        102011:7 102021:5.4 102101:6.5 102111:5.8 102121:2.6 102201:5.3 102211:2.1 102221:1.3 110000:9.5
        110001:9 110010:8.8 110011:7.6 110020:7.6 110021:7 110100:9 110101:7.7 110110:7.5 110111:6.2
        110120:6.1 110121:5.3 110200:7.7 110201:6.6 110210:6.8 110211:5.9 110220:5.2 110221:3 111000:8.9
        111001:7.8 111010:7.6 111011:6.7 111020:6.2 111021:5.8 111100:7.4 111101:5.9 111110:5.7 111111:5.7
        111120:4.7 111121:2.3 111200:6.1 111201:5.2 111210:5.7 111211:2.9 111220:2.4 111221:1.6 112001:7.1
        112011:5.9 112021:3 112101:5.8 112111:2.6 112121:1.5 112201:2.3 112211:1.3 112221:0.6 200000:9.3
        200001:8.7 200010:8.6 200011:7.2 200020:7.5 200021:5.8 200100:8.6 200101:7.4 200110:7.4 200111:6.1
        200120:5.6 200121:3.4 200200:7 200201:5.4 200210:5.2 200211:4 200220:4 200221:2.2 201000:8.5
        201001:7.5 201010:7.4 201011:5.5 201020:6.2 201021:5.1 201100:7.2 201101:5.7 201110:5.5 201111:4.1
        201120:4.6 201121:1.9 201200:5.3 201201:3.6 201210:3.4 201211:1.9 201220:1.9 201221:0.8 202001:6.4
        202011:5.1 202021:2 202101:4.7 202111:2.1 202121:1.1 202201:2.4 202211:0.9 202221:0.4 210000:8.8
        210001:7.5 210010:7.3 210011:5.3 210020:6 210021:5 210100:7.3 210101:5.5 210110:5.9 210111:4
        210120:4.1 210121:2 210200:5.4 210201:4.3 210210:4.5 210211:2.2 210220:2 210221:1.1 211000:7.5
        211001:5.5 211010:5.8 211011:4.5 211020:4 211021:2.1 211100:6.1 211101:5.1 211110:4.8 211111:1.8
        211120:2 211121:0.9 211200:4.6 211201:1.8 211210:1.7 211211:0.7 211220:0.8 211221:0.2 212001:5.3
        212011:2.4 212021:1.4 212101:2.4 212111:1.2 212121:0.5 212201:1 212211:0.3 212221:0.1
        """

    /// Allowed values per metric; base metrics are required.
    static let allowed: [String: Set<String>] = [
        "AV": ["N", "A", "L", "P"], "AC": ["L", "H"], "AT": ["N", "P"], "PR": ["N", "L", "H"],
        "UI": ["N", "P", "A"], "VC": ["N", "L", "H"], "VI": ["N", "L", "H"], "VA": ["N", "L", "H"],
        "SC": ["N", "L", "H"], "SI": ["N", "L", "H"], "SA": ["N", "L", "H"], "E": ["X", "A", "P", "U"],
        "CR": ["X", "H", "M", "L"], "IR": ["X", "H", "M", "L"], "AR": ["X", "H", "M", "L"],
        "MAV": ["X", "N", "A", "L", "P"], "MAC": ["X", "L", "H"], "MAT": ["X", "N", "P"],
        "MPR": ["X", "N", "L", "H"], "MUI": ["X", "N", "P", "A"], "MVC": ["X", "H", "L", "N"],
        "MVI": ["X", "H", "L", "N"], "MVA": ["X", "H", "L", "N"], "MSC": ["X", "H", "L", "N"],
        "MSI": ["X", "S", "H", "L", "N"], "MSA": ["X", "S", "H", "L", "N"], "S": ["X", "N", "P"],
        "AU": ["X", "N", "Y"], "R": ["X", "A", "U", "I"], "V": ["X", "D", "C"], "RE": ["X", "L", "M", "H"],
        "U": ["X", "Clear", "Green", "Amber", "Red"],
    ]
    static let base = ["AV", "AC", "AT", "PR", "UI", "VC", "VI", "VA", "SC", "SI", "SA"]

    /// Severity level of each metric value (0 is most severe), in tenths as the reference.
    static let levels: [String: [String: Double]] = [
        "AV": ["N": 0.0, "A": 0.1, "L": 0.2, "P": 0.3], "PR": ["N": 0.0, "L": 0.1, "H": 0.2],
        "UI": ["N": 0.0, "P": 0.1, "A": 0.2], "AC": ["L": 0.0, "H": 0.1], "AT": ["N": 0.0, "P": 0.1],
        "VC": ["H": 0.0, "L": 0.1, "N": 0.2], "VI": ["H": 0.0, "L": 0.1, "N": 0.2], "VA": ["H": 0.0, "L": 0.1, "N": 0.2],
        "SC": ["H": 0.1, "L": 0.2, "N": 0.3], "SI": ["S": 0.0, "H": 0.1, "L": 0.2, "N": 0.3],
        "SA": ["S": 0.0, "H": 0.1, "L": 0.2, "N": 0.3], "CR": ["H": 0.0, "M": 0.1, "L": 0.2],
        "IR": ["H": 0.0, "M": 0.1, "L": 0.2], "AR": ["H": 0.0, "M": 0.1, "L": 0.2], "E": ["U": 0.2, "P": 0.1, "A": 0.0],
    ]

    /// The most severe vectors of each EQ level ("eq3" is keyed by EQ3 then EQ6).
    static func maxima(eq: Int, level: Int, eq6: Int) -> [[String: String]] {
        func v(_ s: String) -> [String: String] {
            var d: [String: String] = [:]
            for p in s.split(separator: "/") {
                let kv = p.split(separator: ":")
                d[String(kv[0])] = String(kv[1])
            }
            return d
        }
        switch (eq, level) {
        case (1, 0): return [v("AV:N/PR:N/UI:N")]
        case (1, 1): return [v("AV:A/PR:N/UI:N"), v("AV:N/PR:L/UI:N"), v("AV:N/PR:N/UI:P")]
        case (1, 2): return [v("AV:P/PR:N/UI:N"), v("AV:A/PR:L/UI:P")]
        case (2, 0): return [v("AC:L/AT:N")]
        case (2, 1): return [v("AC:H/AT:N"), v("AC:L/AT:P")]
        case (3, 0):
            return eq6 == 0
                ? [v("VC:H/VI:H/VA:H/CR:H/IR:H/AR:H")]
                : [v("VC:H/VI:H/VA:L/CR:M/IR:M/AR:H"), v("VC:H/VI:H/VA:H/CR:M/IR:M/AR:M")]
        case (3, 1):
            return eq6 == 0
                ? [v("VC:L/VI:H/VA:H/CR:H/IR:H/AR:H"), v("VC:H/VI:L/VA:H/CR:H/IR:H/AR:H")]
                : [
                    v("VC:L/VI:H/VA:L/CR:H/IR:M/AR:H"), v("VC:L/VI:H/VA:H/CR:H/IR:M/AR:M"),
                    v("VC:H/VI:L/VA:H/CR:M/IR:H/AR:M"), v("VC:H/VI:L/VA:L/CR:M/IR:H/AR:H"),
                    v("VC:L/VI:L/VA:H/CR:H/IR:H/AR:M"),
                ]
        case (3, 2): return [v("VC:L/VI:L/VA:L/CR:H/IR:H/AR:H")]
        case (4, 0): return [v("SC:H/SI:S/SA:S")]
        case (4, 1): return [v("SC:H/SI:H/SA:H")]
        case (4, 2): return [v("SC:L/SI:L/SA:L")]
        case (5, 0): return [v("E:A")]
        case (5, 1): return [v("E:P")]
        case (5, 2): return [v("E:U")]
        default: return []
        }
    }

    /// Depth of each MacroVector level (max severity distance + 1, in steps).
    static func depth(eq: Int, level: Int, eq6: Int) -> Double {
        switch (eq, level) {
        case (1, 0): 1
        case (1, 1): 4
        case (1, 2): 5
        case (2, 0): 1
        case (2, 1): 2
        case (3, 0): eq6 == 0 ? 7 : 6
        case (3, 1): 8
        case (3, 2): 10
        case (4, 0): 6
        case (4, 1): 5
        case (4, 2): 4
        default: 1
        }
    }

    static func score(_ vector: String) -> Double? {
        let parts = vector.split(separator: "/")
        guard parts.first == "CVSS:4.0" else { return nil }
        var m: [String: String] = [:]
        for p in parts.dropFirst() {
            let kv = p.split(separator: ":", maxSplits: 1)
            guard kv.count == 2 else { return nil }
            let key = String(kv[0]), value = String(kv[1])
            guard allowed[key]?.contains(value) == true, m[key] == nil else { return nil }
            m[key] = value
        }
        guard base.allSatisfy({ m[$0] != nil }) else { return nil }

        // Effective values: unset threat/requirements metrics take their worst case;
        // modified (M*) environmental metrics override the base ones.
        func eff(_ k: String) -> String {
            let raw = m[k] ?? "X"
            if raw == "X" {
                switch k {
                case "E": return "A"
                case "CR", "IR", "AR": return "H"
                default: break
                }
            }
            if let mod = m["M" + k], mod != "X" { return mod }
            return raw
        }
        if ["VC", "VI", "VA", "SC", "SI", "SA"].allSatisfy({ eff($0) == "N" }) { return 0 }

        let av = eff("AV"), pr = eff("PR"), ui = eff("UI")
        let eq1: Int
        if av == "N" && pr == "N" && ui == "N" {
            eq1 = 0
        } else if (av == "N" || pr == "N" || ui == "N") && av != "P" {
            eq1 = 1
        } else {
            eq1 = 2
        }
        let eq2 = eff("AC") == "L" && eff("AT") == "N" ? 0 : 1
        let vc = eff("VC"), vi = eff("VI"), va = eff("VA")
        let eq3 = vc == "H" && vi == "H" ? 0 : ((vc == "H" || vi == "H" || va == "H") ? 1 : 2)
        let msi = eff("MSI"), msa = eff("MSA")
        let eq4 = msi == "S" || msa == "S" ? 0 : ((eff("SC") == "H" || eff("SI") == "H" || eff("SA") == "H") ? 1 : 2)
        let e = eff("E")
        let eq5 = e == "A" ? 0 : (e == "P" ? 1 : 2)
        let eq6 = (eff("CR") == "H" && vc == "H") || (eff("IR") == "H" && vi == "H") || (eff("AR") == "H" && va == "H") ? 0 : 1

        func key(_ q: [Int]) -> String { q.map(String.init).joined() }
        let eqs = [eq1, eq2, eq3, eq4, eq5, eq6]
        guard let value = lookup[key(eqs)] else { return nil }
        func lowered(_ i: Int, _ by: Int = 1) -> [Int] {
            var q = eqs
            q[i] += by
            return q
        }
        let lower1 = lookup[key(lowered(0))]
        let lower2 = lookup[key(lowered(1))]
        let lower36: Double?
        switch (eq3, eq6) {
        case (1, 1), (0, 1): lower36 = lookup[key(lowered(2))]
        case (1, 0): lower36 = lookup[key(lowered(5))]
        case (0, 0):
            let left = lookup[key(lowered(5))], right = lookup[key(lowered(2))]
            switch (left, right) {
            case let (l?, r?): lower36 = max(l, r)
            default: lower36 = nil  // the reference's Math.max with a missing side is NaN
            }
        default:
            var q = eqs
            q[2] += 1
            q[5] += 1
            lower36 = lookup[key(q)]
        }
        let lower4 = lookup[key(lowered(3))]
        let lower5 = lookup[key(lowered(4))]

        // The first combination of maxima that is at least as severe on every metric.
        let order = ["AV", "PR", "UI", "AC", "AT", "VC", "VI", "VA", "SC", "SI", "SA", "CR", "IR", "AR", "E"]
        var distance: [String: Double] = [:]
        outer: for a in maxima(eq: 1, level: eq1, eq6: eq6) {
            for b in maxima(eq: 2, level: eq2, eq6: eq6) {
                for c in maxima(eq: 3, level: eq3, eq6: eq6) {
                    for d in maxima(eq: 4, level: eq4, eq6: eq6) {
                        for f in maxima(eq: 5, level: eq5, eq6: eq6) {
                            let maxVector = a.merging(b) { x, _ in x }.merging(c) { x, _ in x }
                                .merging(d) { x, _ in x }.merging(f) { x, _ in x }
                            var dist: [String: Double] = [:]
                            for metric in order {
                                let mine = levels[metric]?[eff(metric)] ?? 0
                                let theirs = levels[metric]?[maxVector[metric] ?? ""] ?? 0
                                dist[metric] = mine - theirs
                            }
                            distance = dist
                            if dist.values.allSatisfy({ $0 >= 0 }) { break outer }
                        }
                    }
                }
            }
        }
        func d(_ k: String) -> Double { distance[k] ?? 0 }
        let current1 = d("AV") + d("PR") + d("UI")
        let current2 = d("AC") + d("AT")
        let current36 = d("VC") + d("VI") + d("VA") + d("CR") + d("IR") + d("AR")
        let current4 = d("SC") + d("SI") + d("SA")
        let step = 0.1
        var existing = 0
        var total = 0.0
        if let l = lower1 {
            existing += 1
            total += (value - l) * (current1 / (depth(eq: 1, level: eq1, eq6: eq6) * step))
        }
        if let l = lower2 {
            existing += 1
            total += (value - l) * (current2 / (depth(eq: 2, level: eq2, eq6: eq6) * step))
        }
        if let l = lower36 {
            existing += 1
            total += (value - l) * (current36 / (depth(eq: 3, level: eq3, eq6: eq6) * step))
        }
        if let l = lower4 {
            existing += 1
            total += (value - l) * (current4 / (depth(eq: 4, level: eq4, eq6: eq6) * step))
        }
        if lower5 != nil { existing += 1 }  // EQ5 always contributes a zero proportion
        let mean = existing == 0 ? 0 : total / Double(existing)
        let raw = max(0, min(10, value - mean))
        // Round half up on the decimal value: a tie such as 5.65 can come out of the
        // floating-point sum as 5.64999…, so nudge by far less than one step first.
        return (raw * 10 + 0.5 + 1e-9).rounded(.down) / 10
    }
}
