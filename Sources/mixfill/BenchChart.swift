import Foundation

/// `mixfill bench --svg`: the speed-up over the naive kernel against K, one line per
/// backend, on a logarithmic speed-up axis (ratios read the same anywhere on it).
struct BenchChart {
    let report: BenchReport

    private let width = 720.0
    private let height = 440.0
    private let left = 70.0
    private let right = 210.0
    private let top = 50.0
    private let bottom = 60.0
    private let colours = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]

    func svg() -> String {
        let ks = Array(Set(report.cases.map(\.k))).sorted()
        var series = [(label: String, points: [(k: Int, speedup: Double)])]()
        for item in report.cases where item.backend != "naive" {
            let label = BenchReport.label(backend: item.backend, precision: item.precision, restarts: item.restarts)
            if let index = series.firstIndex(where: { $0.label == label }) {
                series[index].points.append((item.k, item.speedup_over_naive))
            } else {
                series.append((label, [(item.k, item.speedup_over_naive)]))
            }
        }
        let largest = max(2, series.flatMap { $0.points.map(\.speedup) }.max() ?? 2)
        let yMax = pow(10, (log10(largest * 1.15)).rounded(.up))
        let plotWidth = width - left - right
        let plotHeight = height - top - bottom
        func x(_ k: Int) -> Double {
            guard ks.count > 1, let index = ks.firstIndex(of: k) else { return left + plotWidth / 2 }
            return left + plotWidth * Double(index) / Double(ks.count - 1)
        }
        func y(_ speedup: Double) -> Double {
            top + plotHeight * (1 - log10(max(speedup, 1)) / log10(yMax))
        }

        var out = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" viewBox="0 0 \(Int(width)) \(Int(height))" font-family="sans-serif" font-size="12">
            <rect width="100%" height="100%" fill="white"/>
            <text x="\(left)" y="22" font-size="15">mixfill bench: speed-up over the naive kernel per EM iteration</text>
            <text x="\(left)" y="38" fill="#555">\(escape(report.data.source)), \(report.data.users) × \(report.data.items), \(report.threads) thread\(report.threads == 1 ? "" : "s")</text>

            """
        // Grid: 1, 2, 5 × powers of ten.
        var tick = 1.0
        while tick <= yMax {
            for step in [1.0, 2.0, 5.0] where tick * step <= yMax {
                let value = tick * step
                let position = fixed(y(value), 1)
                out += "<line x1=\"\(left)\" y1=\"\(position)\" x2=\"\(left + plotWidth)\" y2=\"\(position)\" stroke=\"#ddd\"/>\n"
                out += "<text x=\"\(left - 8)\" y=\"\(position)\" text-anchor=\"end\" dominant-baseline=\"middle\">\(Int(value))×</text>\n"
            }
            tick *= 10
        }
        for k in ks {
            out += "<text x=\(quote(fixed(x(k), 1))) y=\"\(height - bottom + 18)\" text-anchor=\"middle\">\(k)</text>\n"
        }
        out += "<text x=\"\(left + plotWidth / 2)\" y=\"\(height - 18)\" text-anchor=\"middle\">K (components)</text>\n"
        out += "<line x1=\"\(left)\" y1=\"\(top)\" x2=\"\(left)\" y2=\"\(top + plotHeight)\" stroke=\"#333\"/>\n"
        out += "<line x1=\"\(left)\" y1=\"\(top + plotHeight)\" x2=\"\(left + plotWidth)\" y2=\"\(top + plotHeight)\" stroke=\"#333\"/>\n"
        for (index, line) in series.enumerated() {
            let colour = colours[index % colours.count]
            let points = line.points.map { "\(fixed(x($0.k), 1)),\(fixed(y($0.speedup), 1))" }.joined(separator: " ")
            out += "<polyline fill=\"none\" stroke=\"\(colour)\" stroke-width=\"2\" points=\"\(points)\"/>\n"
            for point in line.points {
                out += "<circle cx=\"\(fixed(x(point.k), 1))\" cy=\"\(fixed(y(point.speedup), 1))\" r=\"3\" fill=\"\(colour)\"><title>\(escape(line.label)), K = \(point.k): \(fixed(point.speedup, 1))×</title></circle>\n"
            }
            let legendY = top + 10 + 22 * Double(index)
            out += "<line x1=\"\(width - right + 20)\" y1=\"\(legendY)\" x2=\"\(width - right + 44)\" y2=\"\(legendY)\" stroke=\"\(colour)\" stroke-width=\"2\"/>\n"
            out += "<text x=\"\(width - right + 50)\" y=\"\(legendY)\" dominant-baseline=\"middle\">\(escape(line.label))</text>\n"
        }
        out += "</svg>\n"
        return out
    }

    private func quote(_ text: String) -> String { "\"" + text + "\"" }

    private func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
