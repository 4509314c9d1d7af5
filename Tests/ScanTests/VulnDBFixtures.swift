// OSV records used by the VulnDB tests, written to a temporary directory at run time
// (kept in Swift because SwiftPM warns about non-source files in a target that does
// not declare resources).
//
// - `go/…`: real records from golang.org/x/vuln's test data (Debian package
//   golang-golang-x-vuln-dev, `client/testdata/vulndb/ID/`), unchanged.
// - The others were written for these tests in OSV schema 1.6, modelled on published
//   advisories (ids, packages, fixed versions and CVSS vectors as published by Debian,
//   Ubuntu, Alpine, GitHub (GHSA), PyPA and RustSec); details are shortened.
// - `withdrawn.json` and `array.json` cover withdrawn records and files holding an array.
import Foundation

let osvFixtureFiles: [(path: String, json: String)] = [
    (
        "alpine/ALPINE-CVE-2023-5363.json",
        #"""
{
  "schema_version": "1.6.0",
  "id": "ALPINE-CVE-2023-5363",
  "modified": "2023-11-06T00:00:00Z",
  "upstream": ["CVE-2023-5363"],
  "details": "Issue summary: A bug has been identified in the processing of key and initialisation vector (IV) lengths.",
  "affected": [
    {
      "package": {"ecosystem": "Alpine:v3.18", "name": "openssl"},
      "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "3.1.4-r0"}]}]
    },
    {
      "package": {"ecosystem": "Alpine:v3.19", "name": "openssl"},
      "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "3.1.4-r0"}]}]
    }
  ]
}
"""#
    ),
    (
        "array.json",
        #"""
[
  {"id": "TEST-ARRAY-1", "modified": "2024-01-01T00:00:00Z", "summary": "first of an array",
   "affected": [{"package": {"ecosystem": "Go", "name": "example.com/arr"}, "versions": ["v1.0.0"]}]},
  {"id": "TEST-ARRAY-2", "modified": "2024-01-01T00:00:00Z", "summary": "second of an array, GIT only",
   "affected": [{"package": {"ecosystem": "Go", "name": "example.com/arr"},
                 "ranges": [{"type": "GIT", "repo": "https://example.invalid/r", "events": [{"introduced": "0"}, {"fixed": "abc123"}]}]}]}
]
"""#
    ),
    (
        "crates/RUSTSEC-2021-0124.json",
        #"""
{
  "id": "RUSTSEC-2021-0124",
  "modified": "2023-06-13T13:10:24Z",
  "published": "2021-11-16T12:00:00Z",
  "aliases": ["CVE-2021-45710", "GHSA-fg7r-2g4j-5cgr"],
  "summary": "Data race when sending and receiving after closing a `oneshot` channel",
  "affected": [
    {
      "package": {"ecosystem": "crates.io", "name": "tokio", "purl": "pkg:cargo/tokio"},
      "ranges": [{"type": "SEMVER", "events": [
        {"introduced": "0.1.14"}, {"fixed": "1.8.4"},
        {"introduced": "1.9.0"}, {"fixed": "1.13.1"}
      ]}]
    }
  ],
  "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:N/I:N/A:H"}]
}
"""#
    ),
    (
        "debian/DEBIAN-CVE-2023-4911.json",
        #"""
{
  "schema_version": "1.6.0",
  "id": "DEBIAN-CVE-2023-4911",
  "modified": "2024-01-10T10:00:00Z",
  "published": "2023-10-03T18:15:00Z",
  "upstream": ["CVE-2023-4911"],
  "details": "A buffer overflow was discovered in the GNU C Library's dynamic loader ld.so while processing the GLIBC_TUNABLES environment variable.",
  "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H"}],
  "affected": [
    {
      "package": {"ecosystem": "Debian:12", "name": "glibc"},
      "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.36-9+deb12u3"}]}],
      "ecosystem_specific": {"urgency": "high"}
    }
  ],
  "references": [{"type": "ADVISORY", "url": "https://security-tracker.debian.org/tracker/CVE-2023-4911"}]
}
"""#
    ),
    (
        "debian/DEBIAN-CVE-2023-50495.json",
        #"""
{
  "schema_version": "1.6.0",
  "id": "DEBIAN-CVE-2023-50495",
  "modified": "2024-02-01T00:00:00Z",
  "upstream": ["CVE-2023-50495"],
  "details": "NCurse v6.4-20230418 was discovered to contain a segmentation fault via the component _nc_wrap_entry().",
  "affected": [
    {
      "package": {"ecosystem": "Debian:12", "name": "ncurses"},
      "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}],
      "ecosystem_specific": {"urgency": "low"}
    }
  ]
}
"""#
    ),
    (
        "debian/DSA-5514-1.json",
        #"""
{
  "schema_version": "1.6.0",
  "id": "DSA-5514-1",
  "modified": "2023-10-03T18:00:00Z",
  "published": "2023-10-03T00:00:00Z",
  "upstream": ["CVE-2023-4911"],
  "summary": "glibc - security update",
  "details": "The Qualys Research Labs discovered a buffer overflow in the dynamic loader's processing of the GLIBC_TUNABLES environment variable.",
  "affected": [
    {
      "package": {"ecosystem": "Debian:12", "name": "glibc", "purl": "pkg:deb/debian/glibc?arch=source"},
      "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.36-9+deb12u3"}]}]
    },
    {
      "package": {"ecosystem": "Debian:11", "name": "glibc"},
      "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.31-13+deb11u7"}]}]
    }
  ],
  "references": [{"type": "ADVISORY", "url": "https://www.debian.org/security/2023/dsa-5514"}]
}
"""#
    ),
    (
        "go/GO-2021-0157.json",
        #"""
{"id":"GO-2021-0157","published":"2022-01-05T20:00:00Z","modified":"2022-08-29T16:50:59Z","aliases":["CVE-2015-5739"],"details":"The MIME header parser treated spaces and hyphens\nas equivalent, which can permit HTTP request smuggling.\n","affected":[{"package":{"name":"stdlib","ecosystem":"Go"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.4.3"}]}],"database_specific":{"url":"https://pkg.go.dev/vuln/GO-2021-0157"},"ecosystem_specific":{"imports":[{"path":"net/textproto","symbols":["CanonicalMIMEHeaderKey","canonicalMIMEHeaderKey"]}]}}],"references":[{"type":"FIX","url":"https://go.dev/cl/11772"},{"type":"FIX","url":"https://go.googlesource.com/go/+/117ddcb83d7f42d6aa72241240af99ded81118e9"},{"type":"REPORT","url":"https://go.dev/issue/53035"},{"type":"WEB","url":"https://groups.google.com/g/golang-announce/c/iSIyW4lM4hY/m/ADuQR4DiDwAJ"}]}
"""#
    ),
    (
        "go/GO-2021-0159.json",
        #"""
{"id":"GO-2021-0159","published":"2022-01-05T21:39:14Z","modified":"2022-08-29T16:50:59Z","aliases":["CVE-2015-5739","CVE-2015-5740","CVE-2015-5741"],"details":"HTTP headers were not properly parsed, which allows remote attackers to\nconduct HTTP request smuggling attacks via a request that contains\nContent-Length and Transfer-Encoding header fields.\n","affected":[{"package":{"name":"stdlib","ecosystem":"Go"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.4.3"}]}],"database_specific":{"url":"https://pkg.go.dev/vuln/GO-2021-0159"},"ecosystem_specific":{"imports":[{"path":"net/http","symbols":["CanonicalMIMEHeaderKey","body.readLocked","canonicalMIMEHeaderKey","chunkWriter.writeHeader","fixLength","fixTransferEncoding","readTransfer","transferWriter.shouldSendContentLength","validHeaderFieldByte"]}]}}],"references":[{"type":"FIX","url":"https://go.dev/cl/13148"},{"type":"FIX","url":"https://go.googlesource.com/go/+/26049f6f9171d1190f3bbe05ec304845cfe6399f"},{"type":"FIX","url":"https://go.dev/cl/11772"},{"type":"FIX","url":"https://go.dev/cl/11810"},{"type":"FIX","url":"https://go.dev/cl/12865"},{"type":"FIX","url":"https://go.googlesource.com/go/+/117ddcb83d7f42d6aa72241240af99ded81118e9"},{"type":"FIX","url":"https://go.googlesource.com/go/+/300d9a21583e7cf0149a778a0611e76ff7c6680f"},{"type":"FIX","url":"https://go.googlesource.com/go/+/c2db5f4ccc61ba7df96a747e268a277b802cbb87"},{"type":"REPORT","url":"https://go.dev/issue/12027"},{"type":"REPORT","url":"https://go.dev/issue/11930"},{"type":"WEB","url":"https://groups.google.com/g/golang-announce/c/iSIyW4lM4hY/m/ADuQR4DiDwAJ"}]}
"""#
    ),
    (
        "go/GO-2022-0463.json",
        #"""
{
  "id": "GO-2022-0463",
  "published": "2022-07-01T20:06:59Z",
  "modified": "2022-08-19T22:21:47Z",
  "aliases": [
    "CVE-2022-31259",
    "GHSA-qx32-f6g6-fcfr"
  ],
  "details": "Routes in the beego HTTP router can match unintended patterns.\nThis overly-broad matching may permit an attacker to bypass access\ncontrols.\n\nFor example, the pattern \"/a/b/:name\" can match the URL \"/a.xml/b/\".\nThis may bypass access control applied to the prefix \"/a/\".\n",
  "affected": [
    {
      "package": {
        "name": "github.com/beego/beego",
        "ecosystem": "Go"
      },
      "ranges": [
        {
          "type": "SEMVER",
          "events": [
            {
              "introduced": "0"
            },
            {
              "fixed": "1.12.9"
            }
          ]
        }
      ],
      "database_specific": {
        "url": "https://pkg.go.dev/vuln/GO-2022-0463"
      },
      "ecosystem_specific": {
        "imports": [
          {
            "path": "github.com/beego/beego",
            "symbols": [
              "App.Run",
              "ControllerRegister.FindPolicy",
              "ControllerRegister.FindRouter",
              "ControllerRegister.ServeHTTP",
              "FilterRouter.ValidRouter",
              "InitBeegoBeforeTest",
              "Run",
              "RunWithMiddleWares",
              "TestBeegoInit",
              "Tree.Match",
              "Tree.match",
              "adminApp.Run"
            ]
          }
        ]
      }
    },
    {
      "package": {
        "name": "github.com/beego/beego/v2",
        "ecosystem": "Go"
      },
      "ranges": [
        {
          "type": "SEMVER",
          "events": [
            {
              "introduced": "0"
            },
            {
              "fixed": "2.0.3"
            }
          ]
        }
      ],
      "database_specific": {
        "url": "https://pkg.go.dev/vuln/GO-2022-0463"
      },
      "ecosystem_specific": {
        "imports": [
          {
            "path": "github.com/beego/beego/v2/server/web",
            "symbols": [
              "AddNamespace",
              "Any",
              "AutoPrefix",
              "AutoRouter",
              "Compare",
              "CompareNot",
              "Controller.Bind",
              "Controller.BindForm",
              "Controller.BindXML",
              "Controller.BindYAML",
              "Controller.GetSecureCookie",
              "Controller.ParseForm",
              "Controller.Render",
              "Controller.RenderBytes",
              "Controller.RenderString",
              "Controller.Resp",
              "Controller.SaveToFile",
              "Controller.ServeFormatted",
              "Controller.ServeXML",
              "Controller.ServeYAML",
              "Controller.SetSecureCookie",
              "Controller.Trace",
              "Controller.URLFor",
              "Controller.XMLResp",
              "Controller.XSRFFormHTML",
              "Controller.XSRFToken",
              "Controller.YamlResp",
              "ControllerRegister.Add",
              "ControllerRegister.AddAuto",
              "ControllerRegister.AddAutoPrefix",
              "ControllerRegister.AddMethod",
              "ControllerRegister.AddRouterMethod",
              "ControllerRegister.Any",
              "ControllerRegister.CtrlAny",
              "ControllerRegister.CtrlDelete",
              "ControllerRegister.CtrlGet",
              "ControllerRegister.CtrlHead",
              "ControllerRegister.CtrlOptions",
              "ControllerRegister.CtrlPatch",
              "ControllerRegister.CtrlPost",
              "ControllerRegister.CtrlPut",
              "ControllerRegister.Delete",
              "ControllerRegister.FindPolicy",
              "ControllerRegister.FindRouter",
              "ControllerRegister.Get",
              "ControllerRegister.Handler",
              "ControllerRegister.Head",
              "ControllerRegister.Include",
              "ControllerRegister.Init",
              "ControllerRegister.InsertFilter",
              "ControllerRegister.Options",
              "ControllerRegister.Patch",
              "ControllerRegister.Post",
              "ControllerRegister.Put",
              "ControllerRegister.ServeHTTP",
              "ControllerRegister.URLFor",
              "CtrlAny",
              "CtrlDelete",
              "CtrlGet",
              "CtrlHead",
              "CtrlOptions",
              "CtrlPatch",
              "CtrlPost",
              "CtrlPut",
              "Date",
              "DateParse",
              "Delete",
              "Exception",
              "ExecuteTemplate",
              "ExecuteViewPathTemplate",
              "FilterRouter.ValidRouter",
              "FlashData.Error",
              "FlashData.Notice",
              "FlashData.Set",
              "FlashData.Store",
              "FlashData.Success",
              "FlashData.Warning",
              "Get",
              "GetConfig",
              "HTML2str",
              "Handler",
              "Head",
              "Htmlquote",
              "Htmlunquote",
              "HttpServer.Any",
              "HttpServer.AutoPrefix",
              "HttpServer.AutoRouter",
              "HttpServer.CtrlAny",
              "HttpServer.CtrlDelete",
              "HttpServer.CtrlGet",
              "HttpServer.CtrlHead",
              "HttpServer.CtrlOptions",
              "HttpServer.CtrlPatch",
              "HttpServer.CtrlPost",
              "HttpServer.CtrlPut",
              "HttpServer.Delete",
              "HttpServer.Get",
              "HttpServer.Handler",
              "HttpServer.Head",
              "HttpServer.Include",
              "HttpServer.InsertFilter",
              "HttpServer.Options",
              "HttpServer.Patch",
              "HttpServer.Post",
              "HttpServer.PrintTree",
              "HttpServer.Put",
              "HttpServer.RESTRouter",
              "HttpServer.Router",
              "HttpServer.RouterWithOpts",
              "HttpServer.Run",
              "Include",
              "InitBeegoBeforeTest",
              "InsertFilter",
              "LoadAppConfig",
              "MapGet",
              "Namespace.Any",
              "Namespace.AutoPrefix",
              "Namespace.AutoRouter",
              "Namespace.Cond",
              "Namespace.CtrlAny",
              "Namespace.CtrlDelete",
              "Namespace.CtrlGet",
              "Namespace.CtrlHead",
              "Namespace.CtrlOptions",
              "Namespace.CtrlPatch",
              "Namespace.CtrlPost",
              "Namespace.CtrlPut",
              "Namespace.Delete",
              "Namespace.Filter",
              "Namespace.Get",
              "Namespace.Handler",
              "Namespace.Head",
              "Namespace.Include",
              "Namespace.Namespace",
              "Namespace.Options",
              "Namespace.Patch",
              "Namespace.Post",
              "Namespace.Put",
              "Namespace.Router",
              "NewControllerRegister",
              "NewControllerRegisterWithCfg",
              "NewHttpServerWithCfg",
              "NewHttpSever",
              "NewNamespace",
              "NotNil",
              "Options",
              "ParseForm",
              "Patch",
              "Policy",
              "Post",
              "PrintTree",
              "Put",
              "RESTRouter",
              "ReadFromRequest",
              "RenderForm",
              "Router",
              "RouterWithOpts",
              "Run",
              "RunWithMiddleWares",
              "TestBeegoInit",
              "Tree.AddRouter",
              "Tree.AddTree",
              "Tree.Match",
              "Tree.match",
              "URLFor",
              "URLMap.GetMap",
              "URLMap.GetMapData",
              "adminApp.Run",
              "adminController.AdminIndex",
              "adminController.Healthcheck",
              "adminController.ListConf",
              "adminController.ProfIndex",
              "adminController.PrometheusMetrics",
              "adminController.QpsIndex",
              "adminController.TaskStatus",
              "beegoAppConfig.Bool",
              "beegoAppConfig.DefaultBool"
            ]
          }
        ]
      }
    }
  ],
  "references": [
    {
      "type": "FIX",
      "url": "https://github.com/beego/beego/pull/4958"
    },
    {
      "type": "FIX",
      "url": "https://github.com/beego/beego/commit/64cf44d725c8cc35d782327d333df9cbeb1bf2dd"
    },
    {
      "type": "WEB",
      "url": "https://beego.vip"
    },
    {
      "type": "WEB",
      "url": "https://github.com/beego/beego/issues/4946"
    },
    {
      "type": "WEB",
      "url": "https://github.com/beego/beego/pull/4954"
    },
    {
      "type": "WEB",
      "url": "https://nvd.nist.gov/vuln/detail/CVE-2022-31259"
    },
    {
      "type": "WEB",
      "url": "https://github.com/advisories/GHSA-qx32-f6g6-fcfr"
    }
  ]
}
"""#
    ),
    (
        "go/GO-2022-0569.json",
        #"""
{
  "id": "GO-2022-0569",
  "published": "2022-08-23T13:24:17Z",
  "modified": "2022-08-23T13:24:17Z",
  "aliases": [
    "CVE-2022-31836",
    "GHSA-95f9-94vc-665h"
  ],
  "details": "The leafInfo.match() function uses path.join()\nto deal with wildcard values which can lead to cross directory risk.\n",
  "affected": [
    {
      "package": {
        "name": "github.com/beego/beego",
        "ecosystem": "Go"
      },
      "ranges": [
        {
          "type": "SEMVER",
          "events": [
            {
              "introduced": "0"
            },
            {
              "fixed": "1.12.11"
            }
          ]
        }
      ],
      "database_specific": {
        "url": "https://pkg.go.dev/vuln/GO-2022-0569"
      },
      "ecosystem_specific": {
        "imports": [
          {
            "path": "github.com/beego/beego",
            "symbols": [
              "Tree.Match"
            ]
          }
        ]
      }
    },
    {
      "package": {
        "name": "github.com/beego/beego/v2",
        "ecosystem": "Go"
      },
      "ranges": [
        {
          "type": "SEMVER",
          "events": [
            {
              "introduced": "2.0.0"
            },
            {
              "fixed": "2.0.4"
            }
          ]
        }
      ],
      "database_specific": {
        "url": "https://pkg.go.dev/vuln/GO-2022-0569"
      },
      "ecosystem_specific": {
        "imports": [
          {
            "path": "github.com/beego/beego/v2/server/web",
            "symbols": [
              "Tree.Match"
            ]
          }
        ]
      }
    }
  ],
  "references": [
    {
      "type": "FIX",
      "url": "https://github.com/beego/beego/pull/5025"
    },
    {
      "type": "FIX",
      "url": "https://github.com/beego/beego/pull/5025/commits/ea5ae58d40589d249cf577a053e490509de2bf57"
    },
    {
      "type": "WEB",
      "url": "https://nvd.nist.gov/vuln/detail/CVE-2022-31836"
    },
    {
      "type": "WEB",
      "url": "https://github.com/advisories/GHSA-95f9-94vc-665h"
    }
  ]
}
"""#
    ),
    (
        "go/GO-2022-0572.json",
        #"""
{
  "id": "GO-2022-0572",
  "published": "2022-08-22T17:56:17Z",
  "modified": "2022-08-23T19:54:38Z",
  "aliases": [
    "CVE-2021-30080",
    "GHSA-28r6-jm5h-mrgg"
  ],
  "details": "An issue was discovered in the route lookup process in\nbeego which attackers to bypass access control.\n",
  "affected": [
    {
      "package": {
        "name": "github.com/beego/beego",
        "ecosystem": "Go"
      },
      "ranges": [
        {
          "type": "SEMVER",
          "events": [
            {
              "introduced": "0"
            }
          ]
        }
      ],
      "database_specific": {
        "url": "https://pkg.go.dev/vuln/GO-2022-0572"
      },
      "ecosystem_specific": {
        "imports": [
          {
            "path": "github.com/beego/beego",
            "symbols": [
              "Tree.Match"
            ]
          }
        ]
      }
    },
    {
      "package": {
        "name": "github.com/beego/beego/v2",
        "ecosystem": "Go"
      },
      "ranges": [
        {
          "type": "SEMVER",
          "events": [
            {
              "introduced": "2.0.0"
            },
            {
              "fixed": "2.0.3"
            }
          ]
        }
      ],
      "database_specific": {
        "url": "https://pkg.go.dev/vuln/GO-2022-0572"
      },
      "ecosystem_specific": {
        "imports": [
          {
            "path": "github.com/beego/beego/v2/server/web",
            "symbols": [
              "Tree.Match"
            ]
          }
        ]
      }
    }
  ],
  "references": [
    {
      "type": "FIX",
      "url": "https://github.com/beego/beego/pull/4459"
    },
    {
      "type": "FIX",
      "url": "https://github.com/beego/beego/commit/d5df5e470d0a8ed291930ae802fd7e6b95226519"
    },
    {
      "type": "WEB",
      "url": "https://nvd.nist.gov/vuln/detail/CVE-2021-30080"
    },
    {
      "type": "WEB",
      "url": "https://github.com/advisories/GHSA-28r6-jm5h-mrgg"
    }
  ]
}
"""#
    ),
    (
        "maven/GHSA-jfh8-c2jp-5v3q.json",
        #"""
{
  "schema_version": "1.6.0",
  "id": "GHSA-jfh8-c2jp-5v3q",
  "modified": "2024-02-16T08:00:00Z",
  "published": "2021-12-10T00:40:56Z",
  "aliases": ["CVE-2021-44228"],
  "summary": "Remote code injection in Log4j",
  "details": "Apache Log4j2 JNDI features do not protect against attacker controlled LDAP and other JNDI related endpoints.",
  "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H"}],
  "affected": [
    {
      "package": {"ecosystem": "Maven", "name": "org.apache.logging.log4j:log4j-core", "purl": "pkg:maven/org.apache.logging.log4j/log4j-core"},
      "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "2.13.0"}, {"fixed": "2.15.0"}]}]
    },
    {
      "package": {"ecosystem": "Maven", "name": "org.apache.logging.log4j:log4j-core"},
      "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "2.0-beta9"}, {"fixed": "2.3.1"}]}]
    },
    {
      "package": {"ecosystem": "Maven", "name": "org.apache.logging.log4j:log4j-core"},
      "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "2.4"}, {"fixed": "2.12.2"}]}]
    }
  ],
  "database_specific": {"severity": "CRITICAL"}
}
"""#
    ),
    (
        "npm/GHSA-p6mc-m468-83gw.json",
        #"""
{
  "schema_version": "1.6.0",
  "id": "GHSA-p6mc-m468-83gw",
  "modified": "2024-01-24T20:00:00Z",
  "published": "2020-07-15T19:15:48Z",
  "aliases": ["CVE-2020-8203"],
  "summary": "Prototype Pollution in lodash",
  "details": "Versions of lodash prior to 4.17.19 are vulnerable to Prototype Pollution.",
  "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:N/I:H/A:H"}],
  "affected": [
    {
      "package": {"ecosystem": "npm", "name": "lodash", "purl": "pkg:npm/lodash"},
      "ranges": [{"type": "SEMVER", "events": [{"introduced": "3.7.0"}, {"fixed": "4.17.19"}]}]
    }
  ],
  "references": [{"type": "ADVISORY", "url": "https://nvd.nist.gov/vuln/detail/CVE-2020-8203"}],
  "database_specific": {"severity": "HIGH"}
}
"""#
    ),
    (
        "pypi/GHSA-j8r2-6x86-q33q.json",
        #"""
{
  "schema_version": "1.6.0",
  "id": "GHSA-j8r2-6x86-q33q",
  "modified": "2023-11-08T04:12:40Z",
  "published": "2023-05-22T20:36:32Z",
  "aliases": ["CVE-2023-32681", "PYSEC-2023-74"],
  "summary": "Unintended leak of Proxy-Authorization header in requests",
  "details": "Requests is leaking Proxy-Authorization headers to destination servers during redirects to an HTTPS origin.",
  "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:C/C:H/I:N/A:N"}],
  "affected": [
    {
      "package": {"ecosystem": "PyPI", "name": "requests", "purl": "pkg:pypi/requests"},
      "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "2.3.0"}, {"fixed": "2.31.0"}]}]
    }
  ],
  "references": [
    {"type": "WEB", "url": "https://github.com/psf/requests/security/advisories/GHSA-j8r2-6x86-q33q"},
    {"type": "ADVISORY", "url": "https://nvd.nist.gov/vuln/detail/CVE-2023-32681"}
  ],
  "database_specific": {"cwe_ids": ["CWE-200"], "github_reviewed": true, "severity": "MODERATE"}
}
"""#
    ),
    (
        "pypi/GHSA-last-affected.json",
        #"""
{
  "id": "GHSA-2j3r-h7vx-mpc3",
  "modified": "2024-01-01T00:00:00Z",
  "aliases": ["CVE-2099-0001"],
  "summary": "Range ending in last_affected (test record)",
  "affected": [
    {
      "package": {"ecosystem": "PyPI", "name": "zope.interface"},
      "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "5.0"}, {"last_affected": "5.4.0"}]}]
    }
  ],
  "database_specific": {"severity": "LOW"}
}
"""#
    ),
    (
        "pypi/PYSEC-2023-74.json",
        #"""
{
  "id": "PYSEC-2023-74",
  "modified": "2023-06-05T01:13:00Z",
  "published": "2023-05-26T18:15:00Z",
  "aliases": ["CVE-2023-32681", "GHSA-j8r2-6x86-q33q"],
  "details": "Requests is a HTTP library. Since Requests 2.3.0, Requests has been leaking Proxy-Authorization headers.",
  "affected": [
    {
      "package": {"ecosystem": "PyPI", "name": "Requests"},
      "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "2.3.0"}, {"fixed": "2.31.0"}]}],
      "versions": ["2.3.0", "2.30.0"]
    }
  ]
}
"""#
    ),
    (
        "rubygems/GHSA-crjr-9rc5-ghw8.json",
        #"""
{
  "id": "GHSA-crjr-9rc5-ghw8",
  "modified": "2023-08-01T00:00:00Z",
  "published": "2022-04-11T22:00:00Z",
  "aliases": ["CVE-2022-24836"],
  "summary": "Inefficient Regular Expression Complexity in Nokogiri",
  "affected": [
    {
      "package": {"ecosystem": "RubyGems", "name": "nokogiri"},
      "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.13.4"}]}]
    }
  ],
  "database_specific": {"severity": "HIGH"}
}
"""#
    ),
    (
        "ubuntu/UBUNTU-CVE-2023-4911.json",
        #"""
{
  "schema_version": "1.6.0",
  "id": "UBUNTU-CVE-2023-4911",
  "modified": "2024-03-01T00:00:00Z",
  "upstream": ["CVE-2023-4911"],
  "details": "A buffer overflow was discovered in the GNU C Library's dynamic loader ld.so.",
  "severity": [{"type": "Ubuntu", "score": "high"}],
  "affected": [
    {
      "package": {"ecosystem": "Ubuntu:22.04:LTS", "name": "glibc"},
      "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.35-0ubuntu3.4"}]}]
    }
  ]
}
"""#
    ),
    (
        "withdrawn.json",
        #"""
{
  "id": "GHSA-wwww-wwww-wwww",
  "modified": "2024-05-01T00:00:00Z",
  "withdrawn": "2024-05-01T00:00:00Z",
  "aliases": ["CVE-2099-9999"],
  "summary": "Withdrawn advisory that must never match",
  "affected": [
    {
      "package": {"ecosystem": "npm", "name": "lodash"},
      "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}]}]
    }
  ]
}
"""#
    ),
]

/// Writes the fixtures into a fresh temporary directory and returns it.
func materializeOSVFixtures() throws -> URL {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("osv-fixtures-\(UUID().uuidString)")
    for (path, json) in osvFixtureFiles {
        let url = dir.appendingPathComponent(path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(json.utf8).write(to: url)
    }
    return dir
}
