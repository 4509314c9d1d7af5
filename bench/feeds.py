"""Enrichment feeds in their upstream formats, generated for the benchmarks: NVD CVE JSON 2.0
data feeds (yearly and `modified`, gzip, with their `.meta`), the FIRST EPSS CSV (gzip, with
its `#model_version` comment line) and the CISA KEV catalog JSON. Written as text per record
(not through json.dumps of one document) so 300,000 CVEs take seconds, not minutes."""
import gzip
import hashlib
import json
import os

V31 = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"
V40 = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"
V2 = "AV:N/AC:L/Au:N/C:P/I:P/A:P"


def cve_id(i):
    return f"CVE-2099-{i:06d}"


def _metric(version, vector, score, kind, source="nvd@nist.gov"):
    return (f'{{"source":"{source}","type":"{kind}","cvssData":{{"version":"{version}","vectorString":"{vector}",'
            f'"baseScore":{score},"baseSeverity":"HIGH"}},"exploitabilityScore":3.9,"impactScore":5.9}}')


def _cve(i, modified):
    """One CVE item as NVD publishes it: every third with v4.0 (Secondary, from a CNA) beside
    v3.1 (Primary), every seventh with v2 only, the rest v3.1 Primary + Secondary; CWE,
    references and one CPE configuration each (what real records carry)."""
    score = round(4.0 + (i % 60) / 10, 1)
    if i % 7 == 0:
        metrics = f'"cvssMetricV2":[{_metric("2.0", V2, score, "Primary")}]'
    elif i % 3 == 0:
        metrics = (f'"cvssMetricV40":[{_metric("4.0", V40, score, "Secondary", "cna@example.org")}],'
                   f'"cvssMetricV31":[{_metric("3.1", V31, score, "Primary")}]')
    else:
        metrics = (f'"cvssMetricV31":[{_metric("3.1", V31, score, "Secondary", "cna@example.org")},'
                   f'{_metric("3.1", V31, score, "Primary")}]')
    return (
        f'{{"cve":{{"id":"{cve_id(i)}","sourceIdentifier":"cna@example.org","published":"2099-01-01T00:00:00.000",'
        f'"lastModified":"{modified}","vulnStatus":"Analyzed","cveTags":[],'
        f'"descriptions":[{{"lang":"en","value":"Synthetic flaw {i} in src{i % 50_000:05d} lets a remote attacker do something bad."}},'
        f'{{"lang":"es","value":"Fallo sintetico {i}."}}],'
        f'"metrics":{{{metrics}}},'
        f'"weaknesses":[{{"source":"nvd@nist.gov","type":"Primary","description":[{{"lang":"en","value":"CWE-{79 + i % 700}"}}]}}],'
        f'"configurations":[{{"nodes":[{{"operator":"OR","negate":false,"cpeMatch":[{{"vulnerable":true,'
        f'"criteria":"cpe:2.3:a:example:src{i % 50_000:05d}:*:*:*:*:*:*:*:*","versionEndExcluding":"1.{i % 3}",'
        f'"matchCriteriaId":"00000000-0000-0000-0000-{i:012d}"}}]}}]}}],'
        f'"references":[{{"url":"https://example.invalid/advisory/{i}","source":"cna@example.org","tags":["Vendor Advisory"]}}]'
        f'}}}}'
    )


def write_nvd_feed(path, ids, modified="2099-02-01T00:00:00.000", level=1):
    """Writes `path` (…json.gz) holding the CVEs `ids` and its `.meta` next to it (sha256 of
    the uncompressed JSON, as NVD publishes it). Returns the uncompressed size."""
    sha = hashlib.sha256()
    size = 0
    with gzip.open(path, "wb", compresslevel=level) as out:
        def put(text):
            nonlocal size
            b = text.encode()
            sha.update(b)
            out.write(b)
            size += len(b)
        put(f'{{"resultsPerPage":{len(ids)},"startIndex":0,"totalResults":{len(ids)},"format":"NVD_CVE",'
            f'"version":"2.0","timestamp":"2099-02-01T00:00:00.000","vulnerabilities":[')
        for k, i in enumerate(ids):
            put(("," if k else "") + _cve(i, modified))
        put("]}")
    meta = path[:-len(".json.gz")] + ".meta"
    with open(meta, "w") as m:
        m.write(f"lastModifiedDate:2099-02-01T00:00:00-05:00\r\nsize:{size}\r\nzipSize:0\r\n"
                f"gzSize:{os.path.getsize(path)}\r\nsha256:{sha.hexdigest().upper()}\r\n")
    return size


def write_nvd_years(directory, total, per_file=None, first_year=2002):
    """`total` CVEs (ids 0 … total-1) spread over yearly files nvdcve-2.0-YYYY.json.gz."""
    os.makedirs(directory, exist_ok=True)
    years = list(range(first_year, 2027))
    per_file = per_file or -(-total // len(years))
    n = 0
    for year in years:
        ids = range(n, min(total, n + per_file))
        if not ids:
            break
        write_nvd_feed(os.path.join(directory, f"nvdcve-2.0-{year}.json.gz"), ids)
        n += len(ids)


def write_epss(path, ids, date="2099-02-01", model="v2025.03.14"):
    """FIRST's daily CSV: the comment line, the header, one row per CVE."""
    with gzip.open(path, "wt", compresslevel=1) as out:
        out.write(f"#model_version:{model},score_date:{date}T00:00:00+0000\ncve,epss,percentile\n")
        for i in ids:
            # A score in (0, 1) and a percentile that grows with it; every 97th near certain.
            epss = 0.97 if i % 97 == 0 else (i % 1000) / 1000 * 0.5 + 0.0001
            out.write(f"{cve_id(i)},{epss:.5f},{min(0.99999, epss * 1.9):.5f}\n")


def write_kev(path, ids):
    """CISA's catalog JSON for the CVEs `ids`."""
    entries = [{"cveID": cve_id(i), "vendorProject": "Example", "product": f"src{i % 50_000:05d}",
                "vulnerabilityName": f"Example src{i} flaw", "dateAdded": "2099-01-15",
                "shortDescription": "Synthetic.", "requiredAction": "Apply updates per vendor instructions.",
                "dueDate": "2099-02-05", "knownRansomwareCampaignUse": "Known" if i % 2 else "Unknown",
                "notes": "", "cwes": ["CWE-787"]} for i in ids]
    with open(path, "w") as f:
        json.dump({"title": "CISA Catalog of Known Exploited Vulnerabilities", "catalogVersion": "2099.01.15",
                   "dateReleased": "2099-01-15T00:00:00.0000Z", "count": len(entries), "vulnerabilities": entries}, f)
