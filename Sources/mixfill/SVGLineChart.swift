import Foundation

/// A small, dependency-free SVG line chart: one or more panels stacked vertically that
/// share the x axis, each with one or more named series, "nice" axis ticks (1, 2 or 5
/// times a power of ten), and an optional vertical marker (e.g. the chosen K).
/// Self-contained SVG 1.1 text that any browser shows.
struct SVGLineChart {
    struct Point {
        var x: Double
        var y: Double
    }

    struct Series {
        /// Shown in a legend when the panel has more than one series.
        var name: String?
        var points: [Point]
    }

    struct Panel {
        var title: String
        var yLabel: String
        var series: [Series]

        init(title: String, yLabel: String, series: [Series]) {
            self.title = title
            self.yLabel = yLabel
            self.series = series
        }

        init(title: String, yLabel: String, points: [Point]) {
            self.init(title: title, yLabel: yLabel, series: [Series(name: nil, points: points)])
        }
    }

    var title: String
    var xLabel: String
    var panels: [Panel]
    var markedX: Double?
    var markLabel: String?
    var width = 760.0
    var panelHeight = 250.0

    static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf"]

    /// The stroke of series `index`: the palette's colours in turn, and on each pass through
    /// the palette another dash pattern (solid on the first), so that no two series share
    /// both and a legend tells every line apart (`select --family mppca` draws one per q × λ_W).
    static func stroke(_ index: Int) -> (colour: String, dashes: String?) {
        (palette[index % palette.count], dashPattern(pass: index / palette.count))
    }

    /// The dash pattern (SVG `stroke-dasharray`, in px) of the `pass`th pass through the
    /// palette: nil (solid) for the first, then dashed, dotted, dash-dot and dash-dot-dot;
    /// past those, ever longer dashes, each pattern different from every other.
    static func dashPattern(pass: Int) -> String? {
        let patterns = ["8 4", "2 3", "8 3 2 3", "8 3 2 3 2 3"]
        if pass == 0 { return nil }
        if pass <= patterns.count { return patterns[pass - 1] }
        return "\(2 * (pass - patterns.count) + 10) 3"
    }

    var rendered: String {
        let left = 96.0, right = 24.0, top = 48.0, gap = 56.0, bottom = 52.0
        let plotWidth = width - left - right
        // A panel of several series lists their names below its x axis, one per row, where
        // they cover neither the lines nor the mark's label.
        let legendHeights = panels.map { $0.series.count > 1 ? Double($0.series.count) * 16 + 12 : 0 }
        var panelTops = [Double]()
        var next = top
        for index in panels.indices {
            panelTops.append(next)
            next += panelHeight + legendHeights[index] + gap
        }
        let height = next - (panels.isEmpty ? 0 : gap) + bottom
        let allX = panels.flatMap { $0.series.flatMap { $0.points.map(\.x) } }
        let xTicks = Self.xTicks(allX)
        let xLow = min(xTicks.first ?? 0, allX.min() ?? 0)
        let xHigh = max(xTicks.last ?? 1, allX.max() ?? 1)
        func xPosition(_ x: Double) -> Double {
            left + (xHigh > xLow ? (x - xLow) / (xHigh - xLow) : 0.5) * plotWidth
        }

        var svg = """
            <?xml version="1.0" encoding="UTF-8"?>
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Self.number(width))" height="\(Self.number(height))" \
            viewBox="0 0 \(Self.number(width)) \(Self.number(height))" font-family="Helvetica, Arial, sans-serif" font-size="12">
            <rect width="100%" height="100%" fill="white"/>
            <text x="\(Self.number(width / 2))" y="24" text-anchor="middle" font-size="15">\(Self.escape(title))</text>

            """
        for (panelIndex, panel) in panels.enumerated() {
            let panelTop = panelTops[panelIndex]
            let plotTop = panelTop + 20
            let plotBottom = panelTop + panelHeight
            let allY = panel.series.flatMap { $0.points.map(\.y) }
            let yTicks = Self.niceTicks(low: allY.min() ?? 0, high: allY.max() ?? 1, count: 5)
            let yLow = yTicks.first ?? 0
            let yHigh = yTicks.last ?? 1
            func yPosition(_ y: Double) -> Double {
                plotBottom - (yHigh > yLow ? (y - yLow) / (yHigh - yLow) : 0.5) * (plotBottom - plotTop)
            }
            svg += "<text x=\"\(Self.number(left))\" y=\"\(Self.number(panelTop + 10))\" font-size=\"13\">\(Self.escape(panel.title))</text>\n"
            let yStep = yTicks.count > 1 ? yTicks[1] - yTicks[0] : 1
            for tick in yTicks {
                let y = Self.number(yPosition(tick))
                svg += "<line x1=\"\(Self.number(left))\" y1=\"\(y)\" x2=\"\(Self.number(left + plotWidth))\" y2=\"\(y)\" stroke=\"#e5e5e5\"/>\n"
                svg += "<text x=\"\(Self.number(left - 6))\" y=\"\(y)\" dy=\"4\" text-anchor=\"end\">\(Self.label(tick, step: yStep))</text>\n"
            }
            let xStep = xTicks.count > 1 ? xTicks[1] - xTicks[0] : 1
            for tick in xTicks {
                let x = Self.number(xPosition(tick))
                svg += "<line x1=\"\(x)\" y1=\"\(Self.number(plotBottom))\" x2=\"\(x)\" y2=\"\(Self.number(plotBottom + 4))\" stroke=\"#444\"/>\n"
                svg += "<text x=\"\(x)\" y=\"\(Self.number(plotBottom + 17))\" text-anchor=\"middle\">\(Self.label(tick, step: xStep))</text>\n"
            }
            svg += "<rect x=\"\(Self.number(left))\" y=\"\(Self.number(plotTop))\" width=\"\(Self.number(plotWidth))\" height=\"\(Self.number(plotBottom - plotTop))\" fill=\"none\" stroke=\"#444\"/>\n"
            let middle = Self.number((plotTop + plotBottom) / 2)
            svg += "<text x=\"16\" y=\"\(middle)\" text-anchor=\"middle\" transform=\"rotate(-90 16 \(middle))\">\(Self.escape(panel.yLabel))</text>\n"
            if let markedX {
                let x = Self.number(xPosition(markedX))
                svg += "<line x1=\"\(x)\" y1=\"\(Self.number(plotTop))\" x2=\"\(x)\" y2=\"\(Self.number(plotBottom))\" stroke=\"#888\" stroke-dasharray=\"5 4\"/>\n"
                if panelIndex == 0, let markLabel {
                    let anchor = xPosition(markedX) > left + plotWidth * 0.7 ? "end" : "start"
                    let offset = anchor == "end" ? -5.0 : 5.0
                    svg += "<text x=\"\(Self.number(xPosition(markedX) + offset))\" y=\"\(Self.number(plotTop + 14))\" text-anchor=\"\(anchor)\" fill=\"#555\">\(Self.escape(markLabel))</text>\n"
                }
            }
            for (seriesIndex, series) in panel.series.enumerated() {
                let (colour, dashes) = Self.stroke(seriesIndex)
                let dashAttribute = dashes.map { " stroke-dasharray=\"\($0)\"" } ?? ""
                let path = series.points.map { "\(Self.number(xPosition($0.x))),\(Self.number(yPosition($0.y)))" }.joined(separator: " ")
                svg += "<polyline points=\"\(path)\" fill=\"none\" stroke=\"\(colour)\" stroke-width=\"2\"\(dashAttribute)/>\n"
                for point in series.points {
                    svg += "<circle cx=\"\(Self.number(xPosition(point.x)))\" cy=\"\(Self.number(yPosition(point.y)))\" r=\"3\" fill=\"\(colour)\"/>\n"
                }
                if panel.series.count > 1, let name = series.name {
                    let y = plotBottom + 40 + Double(seriesIndex) * 16
                    let x = left
                    // The swatch is long enough to show a whole dash-dot-dot pattern (21 px).
                    svg += "<line x1=\"\(Self.number(x))\" y1=\"\(Self.number(y - 4))\" x2=\"\(Self.number(x + 28))\" y2=\"\(Self.number(y - 4))\" stroke=\"\(colour)\" stroke-width=\"2\"\(dashAttribute)/>\n"
                    svg += "<text x=\"\(Self.number(x + 34))\" y=\"\(Self.number(y))\">\(Self.escape(name))</text>\n"
                }
            }
        }
        svg += "<text x=\"\(Self.number(left + plotWidth / 2))\" y=\"\(Self.number(height - 12))\" text-anchor=\"middle\">\(Self.escape(xLabel))</text>\n"
        svg += "</svg>\n"
        return svg
    }

    /// Every x when they are at most 20 whole numbers (one tick per K), else nice ticks.
    static func xTicks(_ values: [Double]) -> [Double] {
        let distinct = Array(Set(values)).sorted()
        if distinct.count <= 20, distinct.allSatisfy({ $0 == $0.rounded() }) { return distinct }
        return niceTicks(low: distinct.first ?? 0, high: distinct.last ?? 1, count: 8)
    }

    /// Ticks at multiples of 1, 2 or 5 × 10^e covering [low, high] with about `count` steps.
    static func niceTicks(low: Double, high: Double, count: Int) -> [Double] {
        guard low.isFinite, high.isFinite else { return [0, 1] }
        if low == high {
            let pad = low == 0 ? 1 : abs(low) * 0.01
            return niceTicks(low: low - pad, high: high + pad, count: count)
        }
        let rough = (high - low) / Double(max(count, 1))
        let magnitude = pow(10, (log10(rough)).rounded(.down))
        let step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= rough } ?? 10 * magnitude
        let first = (low / step).rounded(.down)
        let last = (high / step).rounded(.up)
        return stride(from: first, through: last, by: 1).map { $0 * step }
    }

    /// A tick label with as many decimals as the step needs.
    static func label(_ value: Double, step: Double) -> String {
        let decimals = step >= 1 ? 0 : min(10, Int((-log10(step)).rounded(.up)))
        let text = String(format: "%.\(decimals)f", value)
        return text == "-0" ? "0" : text.replacingOccurrences(of: "-", with: "−")
    }

    static func number(_ value: Double) -> String {
        String(format: "%.1f", value)
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
