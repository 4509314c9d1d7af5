import Cron
import Foundation
import HTTPTypes
import Hummingbird
import Scan
import Store

/// The images list and an image with its tags, latest scan, findings and packages.
extension ConsoleRoutes {
    // MARK: Images

    static let imageSorts = [("riskScore:desc", "Risk, highest first"), ("name:asc", "Name"), ("createdAt:desc", "Newest first")]

    /// The images page's view model.
    struct ImagesView {
        struct RegistryOption {
            var id: String
            var name: String
            var selected: Bool
        }
        struct Option {
            var value: String
            var label: String
            var selected: Bool
        }
        var pager: Any
        var images: [ConsoleView]
        /// Whether the organization has policies (the table then has a verdict column).
        var showPolicy: Bool
        var total: Int
        var search: String
        var registryOptions: [RegistryOption]
        var sortOptions: [Option]
        /// The same list (every page) as CSV.
        var csvHref: String
    }

    @Sendable func images(_ req: Request, _ ctx: AppRequestContext, _ v: Viewer) async throws -> Response {
        let search = Self.param(req, "search"), registryId = Self.param(req, "registryId")
        let sort = Self.param(req, "sort").flatMap { s in Self.imageSorts.first { $0.0 == s }?.0 } ?? "riskScore:desc"
        let page = max(Int(Self.param(req, "page") ?? "") ?? 1, 1)
        let parts = sort.split(separator: ":").map(String.init)
        let found: (images: [ImageDTO], total: Int) =
            page > 1_000_000
            ? ([], 0)
            : try await ImageService(s: s).list(
                v.principal, page: PageRequest(page: page, limit: 50, sortField: parts[0], descending: parts.last == "desc", search: search),
                registryId: registryId)
        let regs = try await RegistryService(s: s).list(v.principal, Self.registryOptionsQuery).registries
        let filters: [(String, String?)] = [("search", search), ("registryId", registryId), ("sort", sort)]
        let pages = found.total == 0 ? 0 : (found.total + 49) / 50
        let pager = Self.pager(page: page, pages: pages) {
            "/console/images" + Self.query(filters + [("page", String($0))])
        }
        let rows = await imageRows(found.images, v)
        let view = ImagesView(
            pager: pager, images: rows.rows, showPolicy: rows.showPolicy, total: found.total, search: search ?? "",
            registryOptions: regs.map { .init(id: $0.id, name: $0.name, selected: $0.id == registryId) },
            sortOptions: Self.imageSorts.map { .init(value: $0.0, label: $0.1, selected: $0.0 == sort) },
            csvHref: "/api/reports/images.csv" + Self.query(filters))
        return show(req, "images", title: "Images", viewer: v, current: "images", data: view)
    }

    /// The first 200 registries, oldest first (the filter's options, as the registry list orders them).
    static let registryOptionsQuery = RegistryRepository.ListQuery(
        org: "", only: nil, like: nil, provider: nil, sortColumn: nil, descending: false, limit: 200, offset: 0)

    static let severityFilter = [("", "any"), ("critical", "critical"), ("critical,high", "critical and high"), ("high", "high"), ("medium", "medium"), ("low", "low")]

    @Sendable func image(_ req: Request, _ ctx: AppRequestContext, _ v: Viewer) async throws -> Response {
        let id = ctx.parameters.get("id") ?? ""
        guard let img = try? await ImageService(s: s).image(v.principal, id: id) else { return notFound(v, "No such image.") }
        let fullName = img.fullName
        let tags = img.tags ?? []
        let latest = tags.filter { $0.lastScanId != nil }.max { ($0.lastScannedAt ?? "") < ($1.lastScannedAt ?? "") }
        let scanId = Self.param(req, "scan") ?? latest?.lastScanId
        var data: [String: Any] = ["image": ConsoleView(img), "grade": Self.grade(img.riskScore)]
        let reg = try? await RegistryService(s: s).registry(v.principal, id: img.registryId)
        data["registryName"] = reg?.name ?? img.registryId
        if let tally = await policyTally(v, imageIds: [id]) {
            var summary: [String: Any] = ["badge": tally.badge(id)]
            if let n = tally.images[id]?.violations, n > 0 { summary["violations"] = n }
            data["imagePolicy"] = summary
        }
        data["tags"] = tags.map { t in
            ConsoleView(t, ["reference": "\(fullName):\(t.name)", "current": scanId != nil && t.lastScanId == scanId])
        }
        if let scanId, let dto = try? await ScanService(s: s).scan(v.principal, id: scanId), dto.imageId == id {
            let service = ScanService(s: s)
            var scan = ConsoleJSON.object(dto)
            scan["policyView"] = await scanPolicyView(dto, imageId: id, v)
            let severity = Self.param(req, "severity").flatMap { s in Self.severityFilter.first { $0.0 == s }?.0 } ?? ""
            let fixable = Self.param(req, "fixable") == "true"
            let package = Self.param(req, "package")
            var query = ScanRepository.FindingsQuery(limit: 200, offset: 0)
            if !severity.isEmpty { query.severityRanks = try ScanRoutes.severityRanks(severity) }
            if fixable { query.fixable = true }
            query.package = package
            scan["findings"] = try await service.findings(v.principal, id: scanId, query).findings.map { ConsoleJSON.object($0) }
            var packages: [InstalledPackage] = []
            var packageTotal = 0
            for page in 1...10 {
                let found = try await service.packages(v.principal, id: scanId, page: PageRequest(page: page, limit: 200), type: nil)
                packages += found.packages
                packageTotal = found.total
                if page * 200 >= found.total { break }
            }
            var layerOrder: [String] = []
            var perLayer: [String: Int] = [:]
            for p in packages {
                let layer = p.layer ?? "unknown"
                if perLayer[layer] == nil { layerOrder.append(layer) }
                perLayer[layer, default: 0] += 1
            }
            scan["layers"] = layerOrder.enumerated().map { ["index": $0.offset + 1, "digest": $0.element, "packages": perLayer[$0.element] ?? 0] as [String: Any] }
            scan["layerTotals"] = ConsoleJSON.object(dto)["layers"]
            scan["packages"] = packages.prefix(200).map { ConsoleJSON.object($0) }
            scan["packageTotal"] = packageTotal
            scan["packagesTruncated"] = packageTotal > 200
            scan["severityOptions"] = Self.severityFilter.map { ["value": $0.0, "label": $0.1, "selected": $0.0 == severity] as [String: Any] }
            scan["fixableOnly"] = fixable
            scan["packageFilter"] = package ?? ""
            scan["csvHref"] = "/api/reports/findings.csv" + Self.query([
                ("scanId", scanId), ("severity", severity.isEmpty ? nil : severity), ("fixable", fixable ? "true" : nil), ("package", package),
            ])
            data["scan"] = scan
        }
        return show(req, "image", title: fullName, viewer: v, current: "images", data: data)
    }

    /// Previous/next links for a paged list; false (no pager) for a single page.
    static func pager(page: Int, pages: Int, link: (Int) -> String) -> Any {
        guard pages > 1 else { return false }
        // Absent, not empty: a section on an empty string would still render.
        var p: [String: Any] = ["page": page, "pages": pages]
        if page > 1 { p["prev"] = link(page - 1) }
        if page < pages { p["next"] = link(page + 1) }
        return p
    }
}
