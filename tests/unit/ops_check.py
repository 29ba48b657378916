#!/usr/bin/env python3
"""Static checks of feedcache's monitoring files (called by test_ops.sh).

  ops_check.py dashboard DASHBOARD.json METRICS.txt OUT_RULES.yml
      Every panel has a title, a Prometheus datasource and targets; every
      expr uses only metric families feedcached exports (METRICS.txt, which
      the integration test compares with a live /metrics), only labels those
      families have, and the dashboard's $job/$instance filters; legends name
      only labels the expr keeps; the panels the operators were promised are
      all there; panels do not overlap. Writes every expr, with Grafana's
      variables replaced by sample values, as a recording rule into
      OUT_RULES.yml so that `promtool check rules` can parse it.

  ops_check.py rules ALERTS.yml METRICS.txt
      The same metric and label checks for the alerting rules.

  ops_check.py provisioning GRAFANA_DIR DASHBOARD.json
      Grafana's provisioning files point at the dashboard and define the
      datasource type the dashboard asks for.

  ops_check.py dockerfile DOCKERFILE REPO_DIR [PACKAGE...]
      Multi-stage; the runtime stage is Debian bookworm-slim, runs as a
      non-root user, has a HEALTHCHECK on /healthz, installs no -dev package
      and installs every PACKAGE (the Debian packages of the libraries the
      binaries link against, found by test_ops.sh); every COPY source exists
      and is not excluded by DOCKERFILE.dockerignore.

  ops_check.py compose COMPOSE_CONFIG.yml REPO_DIR
      On the output of `docker-compose config`: feedcached reaches Redis and
      PostgreSQL at the fixed addresses those services have, Prometheus
      scrapes the port feedcached serves metrics on, and every file mounted
      from the repository exists. Needs PyYAML (a dependency of Debian's
      docker-compose).

Used by tests/integration/test_ops.sh against a real feedcached and Prometheus:

  ops_check.py families METRICS.txt SCRAPE.txt
      METRICS.txt matches a /metrics scrape: the same feedcache_* families,
      types and label names (pending families may be missing).

  ops_check.py live DASHBOARD.json METRICS.txt ALERTS.yml PROMETHEUS_URL
      Prometheus evaluates every dashboard query without error and with a
      non-empty result (unless it only uses pending families), and has
      loaded every alerting rule with health "ok".

  ops_check.py alerts PROMETHEUS_URL
      Prints the active alerts, one "NAME STATE INSTANCE" line each.

Standard library only (the CI machine installs nothing for this). Prints one
line per problem and exits 1 if there is any.
"""

import json
import os
import re
import sys

PROBLEMS = []


def problem(msg):
    PROBLEMS.append(msg)
    print("FAIL: " + msg)


# --- metric families ----------------------------------------------------------

class Family:
    def __init__(self, name, mtype, labels, pending):
        self.name = name
        self.type = mtype
        self.labels = labels
        self.pending = pending


def load_families(path):
    """METRICS.txt: NAME TYPE LABELS|- [pending] per line, # comments."""
    fams = {}
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            parts = line.split()
            if len(parts) not in (3, 4) or (len(parts) == 4 and parts[3] != "pending"):
                problem(f"{path}:{n}: want NAME TYPE LABELS|- [pending], got {line!r}")
                continue
            name, mtype, labels = parts[:3]
            if mtype not in ("counter", "gauge", "histogram", "summary"):
                problem(f"{path}:{n}: unknown type {mtype}")
            labels = set() if labels == "-" else set(labels.split(","))
            fams[name] = Family(name, mtype, labels, len(parts) == 4)
    return fams


# Series names a family puts on /metrics, and the labels each may carry.
def series_names(fams):
    names = {}
    target = {"job", "instance"}
    for fam in fams.values():
        if fam.type == "histogram":
            names[fam.name + "_bucket"] = fam.labels | target | {"le"}
            names[fam.name + "_sum"] = fam.labels | target
            names[fam.name + "_count"] = fam.labels | target
        elif fam.type == "summary":
            names[fam.name] = fam.labels | target | {"quantile"}
            names[fam.name + "_sum"] = fam.labels | target
            names[fam.name + "_count"] = fam.labels | target
        else:
            names[fam.name] = fam.labels | target
    # Made by Prometheus itself for every target.
    names["up"] = set(target)
    return names


# --- a small PromQL lexer -------------------------------------------------------
#
# Not a parser (promtool checks syntax): enough to find every metric name,
# the label matchers of each selector and the grouping labels, which is what
# a renamed metric or a typo breaks without any syntax error.

AGGREGATORS = {"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count",
               "count_values", "bottomk", "topk", "quantile", "limitk", "limit_ratio"}
GROUPING = {"by", "without", "on", "ignoring", "group_left", "group_right"}
KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan"}

TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
  | (?P<range>\[[^\]]*\])
  | (?P<number>(?:0x[0-9a-fA-F]+|\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+)[a-zA-Z]*)
  | (?P<ident>[a-zA-Z_:][a-zA-Z0-9_:]*)
  | (?P<matchop>=~|!~|!=|==|=)
  | (?P<punct>[{}(),])
  | (?P<other>.)
""", re.VERBOSE | re.DOTALL)


def tokens(expr):
    out = []
    for m in TOKEN.finditer(expr):
        kind = m.lastgroup
        if kind != "ws":
            out.append((kind, m.group()))
    return out


class Selector:
    def __init__(self, name):
        self.name = name
        self.matchers = []      # (label, op, value without quotes)


def analyse(expr, where):
    """Returns (selectors, grouping labels) of a PromQL expression."""
    toks = tokens(expr)
    selectors, grouping = [], set()
    i = 0
    while i < len(toks):
        kind, text = toks[i]
        nxt = toks[i + 1] if i + 1 < len(toks) else (None, None)
        if kind == "ident" and text in GROUPING:
            if nxt[1] == "(":
                i += 2
                while i < len(toks) and toks[i][1] != ")":
                    if toks[i][0] == "ident":
                        grouping.add(toks[i][1])
                    i += 1
            i += 1
            continue
        if kind == "ident" and (text in AGGREGATORS or nxt[1] == "("):
            i += 1          # a function or an aggregation
            continue
        if kind == "ident" and text.lower() in KEYWORDS:
            i += 1
            continue
        if kind == "ident" or (kind == "punct" and text == "{"):
            sel = Selector(text if kind == "ident" else None)
            if kind == "ident":
                i += 1
            if i < len(toks) and toks[i][1] == "{":
                i += 1
                while i < len(toks) and toks[i][1] != "}":
                    if (i + 2 < len(toks) and toks[i][0] == "ident"
                            and toks[i + 1][0] == "matchop" and toks[i + 2][0] == "string"):
                        sel.matchers.append((toks[i][1], toks[i + 1][1], toks[i + 2][1][1:-1]))
                        i += 3
                    elif toks[i][1] == ",":
                        i += 1
                    else:
                        problem(f"{where}: cannot read the label matchers near {toks[i][1]!r}")
                        i += 1
                i += 1
            if sel.name is None:
                problem(f"{where}: a selector without a metric name ({{...}}): name the metric")
            else:
                selectors.append(sel)
            continue
        i += 1
    return selectors, grouping


def check_expr(expr, where, names, fams, dashboard):
    """Metric names, matcher labels, grouping labels. Returns the names used."""
    selectors, grouping = analyse(expr, where)
    used = set()
    allowed_grouping = {"job", "instance"}
    for sel in selectors:
        if sel.name not in names:
            base = re.sub(r"_(bucket|sum|count)$", "", sel.name)
            hint = ""
            if base in fams and fams[base].type == "histogram" and base == sel.name:
                hint = " (a histogram: use _bucket, _sum or _count)"
            problem(f"{where}: metric {sel.name} is not exported by feedcached{hint}")
            continue
        used.add(sel.name)
        labels = names[sel.name]
        allowed_grouping |= labels
        for label, _, _ in sel.matchers:
            if label not in labels:
                problem(f"{where}: {sel.name} has no label {label!r} (it has {sorted(labels)})")
        if dashboard:
            have = {(lab, op, val) for lab, op, val in sel.matchers}
            for var in ("job", "instance"):
                if (var, "=~", "$" + var) not in have:
                    problem(f'{where}: {sel.name} lacks the dashboard filter {var}=~"${var}"')
    for label in grouping - allowed_grouping:
        problem(f"{where}: grouping by {label!r}, which none of its metrics has")
    return used, grouping


# --- dashboard ------------------------------------------------------------------

# Grafana's built-in interval variables, replaced by sample values for promtool.
BUILTIN_VARS = {"__rate_interval": "5m", "__interval": "1m", "__range": "1h",
                "__range_s": "3600", "__interval_ms": "60000", "__range_ms": "3600000"}

# What the issue promised the dashboard shows: (what, a regex over all exprs).
REQUIRED = [
    ("feed cache hit ratio", r'feedcache_feed_cache_requests_total\{[^}]*result="hit"'),
    ("post cache hit ratio", r'feedcache_post_cache_requests_total\{[^}]*result="hit"'),
    ("request rates per method", r"sum by \(method\) \(rate\(feedcache_rpc_requests_total"),
    ("latency quantiles per method",
     r"histogram_quantile\(0\.99, sum by \(method, le\) \(rate\(feedcache_rpc_duration_seconds_bucket"),
    ("fan-out lag quantiles", r"histogram_quantile\([0-9.]+, sum by \(le\) \(rate\(feedcache_fanout_lag_seconds_bucket"),
    ("fan-out queue depth", r"feedcache_fanout_queue_depth"),
    ("rebuilds", r"rate\(feedcache_feed_rebuilds_total"),
    ("PostgreSQL fallbacks", r"rate\(feedcache_pg_fallbacks_total"),
    ("warm progress (users warmed)", r"feedcache_warm_users_total"),
    ("warm progress (jobs)", r"feedcache_warm_jobs\b"),
    ("rebuild duration", r"feedcache_feed_rebuild_duration_seconds_bucket"),
]


def all_panels(panels):
    for p in panels:
        yield p
        # A collapsed row keeps its panels inside it.
        yield from all_panels(p.get("panels", []))


def overlap(a, b):
    return (a["x"] < b["x"] + b["w"] and b["x"] < a["x"] + a["w"]
            and a["y"] < b["y"] + b["h"] and b["y"] < a["y"] + a["h"])


def check_dashboard(dash_path, metrics_path, out_rules):
    fams = load_families(metrics_path)
    names = series_names(fams)
    with open(dash_path) as f:
        try:
            dash = json.load(f)
        except json.JSONDecodeError as e:
            problem(f"{dash_path}: not JSON: {e}")
            return
    for key in ("uid", "title", "panels", "schemaVersion"):
        if key not in dash:
            problem(f"{dash_path}: no {key!r}")
    variables = {v.get("name"): v for v in dash.get("templating", {}).get("list", [])}
    ds_vars = {n for n, v in variables.items()
               if v.get("type") == "datasource" and v.get("query") == "prometheus"}
    for var in ("job", "instance"):
        if var not in variables:
            problem(f"{dash_path}: no ${var} variable (every selector filters on it)")

    def ds_ok(ds, where):
        if not isinstance(ds, dict) or ds.get("type") != "prometheus":
            problem(f"{where}: datasource {ds!r} is not a Prometheus datasource")
            return
        uid = ds.get("uid", "")
        m = re.fullmatch(r"\$\{?(\w+)\}?", uid)
        if m and m.group(1) not in ds_vars:
            problem(f"{where}: datasource variable {uid} is not a Prometheus datasource variable")
        elif not uid:
            problem(f"{where}: datasource has no uid")

    rules = []
    exprs = []
    ids = set()
    boxes = []
    for p in all_panels(dash.get("panels", [])):
        pid = p.get("id")
        title = (p.get("title") or "").strip()
        where = f"panel {pid} {title!r}"
        if pid in ids:
            problem(f"{where}: duplicate panel id")
        ids.add(pid)
        if not title:
            problem(f"panel {pid}: no title")
        gp = p.get("gridPos") or {}
        if not all(isinstance(gp.get(k), int) for k in "xywh"):
            problem(f"{where}: gridPos needs integer x, y, w, h")
        else:
            if gp["x"] < 0 or gp["w"] < 1 or gp["x"] + gp["w"] > 24:
                problem(f"{where}: gridPos {gp} does not fit the 24 columns")
            for other, ob in boxes:
                if overlap(gp, ob):
                    problem(f"{where}: overlaps {other}")
            boxes.append((where, gp))
        if p.get("type") == "row":
            continue
        if not p.get("type"):
            problem(f"{where}: no type")
        if "datasource" not in p:
            problem(f"{where}: no datasource")
        else:
            ds_ok(p["datasource"], where)
        targets = p.get("targets") or []
        if not targets:
            problem(f"{where}: no targets")
        refids = set()
        for t in targets:
            ref = t.get("refId")
            twhere = f"{where} target {ref}"
            if not ref or ref in refids:
                problem(f"{twhere}: missing or duplicate refId")
            refids.add(ref)
            if "datasource" in t:
                ds_ok(t["datasource"], twhere)
            expr = (t.get("expr") or "").strip()
            if not expr:
                problem(f"{twhere}: no expr")
                continue
            for m in re.finditer(r"\$\{?(\w+)", expr):
                if m.group(1) not in BUILTIN_VARS and m.group(1) not in variables:
                    problem(f"{twhere}: unknown variable ${m.group(1)}")
            _, grouping = check_expr(expr, twhere, names, fams, dashboard=True)
            for label in re.findall(r"\{\{\s*(\w+)\s*\}\}", t.get("legendFormat", "")):
                if label not in grouping:
                    problem(f"{twhere}: legend uses {{{{{label}}}}}, which the expr does not keep (by ...)")
            exprs.append(expr)
            # Sample values: interval variables become durations, dashboard
            # variables (used inside regex matchers) match anything.
            sample = re.sub(r"\$\{?(\w+)\}?",
                            lambda m: BUILTIN_VARS.get(m.group(1), ".+"), expr)
            rules.append((f"dashboard:panel{pid}_{ref}", sample))

    joined = "\n".join(exprs)
    for what, rx in REQUIRED:
        if not re.search(rx, joined):
            problem(f"{dash_path}: no panel shows {what} (/{rx}/)")

    with open(out_rules, "w") as f:
        f.write("# Generated by ops_check.py from the dashboard: one recording rule per\n"
                "# panel query, for `promtool check rules`.\ngroups:\n  - name: dashboard\n    rules:\n")
        for record, expr in rules:
            # A JSON string is a valid YAML double-quoted scalar.
            f.write(f"      - record: {record}\n        expr: {json.dumps(expr)}\n")
    print(f"dashboard: {len(ids)} panels, {len(rules)} queries checked")


# --- alerting rules ----------------------------------------------------------------

def rule_exprs(path):
    """(name, expr) of each rule, from the YAML subset alerts.yml is written
    in: `expr: <one line>` or `expr: |` followed by a more indented block.
    Anything else is reported rather than guessed at (no PyYAML on CI)."""
    out = []
    with open(path) as f:
        lines = f.read().split("\n")
    name = None
    i = 0
    while i < len(lines):
        line = lines[i]
        m = re.match(r"\s*-?\s*(alert|record):\s*(\S+)\s*$", line)
        if m:
            name = m.group(2)
        m = re.match(r"(\s*)expr:\s*(.*)$", line)
        if m:
            indent, rest = len(m.group(1)), m.group(2).strip()
            if rest in ("|", "|-"):
                body = []
                i += 1
                while i < len(lines) and (not lines[i].strip()
                                          or len(lines[i]) - len(lines[i].lstrip()) > indent):
                    body.append(lines[i].strip())
                    i += 1
                out.append((name, " ".join(b for b in body if b)))
                continue
            if not rest or rest[0] in "'\">":
                problem(f"{path}:{i + 1}: write expr as one plain line or a `|` block")
            else:
                out.append((name, rest))
        i += 1
    return out


def check_rules(rules_path, metrics_path):
    fams = load_families(metrics_path)
    names = series_names(fams)
    rules = rule_exprs(rules_path)
    if not rules:
        problem(f"{rules_path}: no rules found")
    for name, expr in rules:
        check_expr(expr, f"{rules_path}: {name}", names, fams, dashboard=False)
    print(f"rules: {len(rules)} exprs checked")


# --- Grafana provisioning -------------------------------------------------------------

def check_provisioning(gdir, dash_path):
    ds_files = []
    dirs = os.path.join(gdir, "provisioning", "datasources")
    for fn in sorted(os.listdir(dirs)) if os.path.isdir(dirs) else []:
        if fn.endswith((".yml", ".yaml")):
            ds_files.append(open(os.path.join(dirs, fn)).read())
    if not any(re.search(r"^\s*type:\s*prometheus\s*$", t, re.M) for t in ds_files):
        problem(f"{dirs}: no datasource of type prometheus")
    providers = os.path.join(gdir, "provisioning", "dashboards")
    paths = []
    for fn in sorted(os.listdir(providers)) if os.path.isdir(providers) else []:
        if fn.endswith((".yml", ".yaml")):
            paths += re.findall(r"^\s*path:\s*(\S+)\s*$",
                                open(os.path.join(providers, fn)).read(), re.M)
    if not paths:
        problem(f"{providers}: no dashboard provider with a path")
    # The compose file mounts GRAFANA_DIR/dashboards at the provider's path.
    if os.path.dirname(os.path.abspath(dash_path)) != os.path.abspath(os.path.join(gdir, "dashboards")):
        problem(f"{dash_path}: not in {gdir}/dashboards, the directory Grafana loads")
    print(f"provisioning: {len(ds_files)} datasource file(s), dashboard paths {paths}")


# --- docker-compose config ---------------------------------------------------------------

def kv_conninfo(s):
    return dict(re.findall(r"(\w+)\s*=\s*('(?:[^'\\]|\\.)*'|\S+)", s))


def check_compose(config_path, repo):
    import yaml     # docker-compose depends on it
    with open(config_path) as f:
        cfg = yaml.safe_load(f)
    services = cfg.get("services", {})
    for need in ("redis", "postgres", "feedcached", "demo-loader", "prometheus", "grafana"):
        if need not in services:
            problem(f"compose: no service {need!r}")
    if problems_so_far():
        return

    def names(svc):
        """The names svc answers to on the stack's networks: its own and aliases."""
        out = {svc}
        nets = services[svc].get("networks") or {}
        if isinstance(nets, dict):
            for v in nets.values():
                out |= set((v or {}).get("aliases") or [])
        return out

    env = services["feedcached"].get("environment") or {}
    if isinstance(env, list):
        env = dict(e.split("=", 1) for e in env)
    # feedcached resolves host names itself, off its loop (issue 16): the
    # stack points it at the service names, not at pinned addresses.
    redis = env.get("FEEDCACHE_REDIS", "")
    m = re.fullmatch(r"redis://(?:[^@]*@)?([A-Za-z0-9._-]+):(\d+)(/\d+)?", redis)
    if not m:
        problem(f"compose: FEEDCACHE_REDIS={redis!r} is not redis://HOST:PORT[/db]")
    elif m.group(1) not in names("redis"):
        problem(f"compose: FEEDCACHE_REDIS points at {m.group(1)}, not at the redis service")
    pg = kv_conninfo(env.get("FEEDCACHE_PG", ""))
    if pg.get("host") not in names("postgres"):
        problem(f"compose: FEEDCACHE_PG host={pg.get('host')} is not the postgres service")
    loader = services["demo-loader"].get("environment") or {}
    if isinstance(loader, dict) and loader.get("PGHOST") not in names("postgres"):
        problem(f"compose: demo-loader PGHOST={loader.get('PGHOST')} is not the postgres service")
    for key in ("FEEDCACHE_LISTEN", "FEEDCACHE_METRICS_LISTEN"):
        if not re.fullmatch(r"[0-9.]+:\d+", env.get(key, "0.0.0.0:0")):
            problem(f"compose: {key}={env.get(key)!r} must be a numeric IP:PORT")
    metrics_port = env.get("FEEDCACHE_METRICS_LISTEN", "0.0.0.0:9464").rsplit(":", 1)[1]

    # Prometheus' config is a mounted file: its feedcached target must use that port.
    for vol in services["prometheus"].get("volumes", []):
        src = vol.get("source") if isinstance(vol, dict) else vol.split(":")[0]
        if src and os.path.isdir(src) and os.path.isfile(os.path.join(src, "prometheus.yml")):
            text = open(os.path.join(src, "prometheus.yml")).read()
            if not re.search(r'targets:\s*\[\s*"feedcached:%s"' % metrics_port, text):
                problem(f"compose: prometheus.yml does not scrape feedcached:{metrics_port}")
    # Every bind mount from the repository exists.
    for name, svc in services.items():
        for vol in svc.get("volumes", []):
            if isinstance(vol, dict):
                src, kind = vol.get("source"), vol.get("type")
            else:
                src, kind = vol.split(":")[0], "bind" if vol.startswith("/") else "volume"
            if kind == "bind" and src and src.startswith(os.path.abspath(repo)) and not os.path.exists(src):
                problem(f"compose: service {name} mounts {src}, which does not exist")
    # No pinned addresses or subnet: names are enough, and a fixed subnet
    # collides with whatever else the host runs.
    for name, svc in services.items():
        nets = svc.get("networks") or {}
        for v in (nets.values() if isinstance(nets, dict) else []):
            if (v or {}).get("ipv4_address") or (v or {}).get("ipv6_address"):
                problem(f"compose: {name} pins an address; use the service name instead")
    for net, v in (cfg.get("networks") or {}).items():
        if ((v or {}).get("ipam") or {}).get("config"):
            problem(f"compose: network {net} pins a subnet; Compose's default is fine")
    # Grafana loads the provisioning and the dashboard from the repository.
    mounts = {}
    for vol in services["grafana"].get("volumes", []):
        parts = vol.split(":") if isinstance(vol, str) else [vol.get("source"), vol.get("target")]
        mounts[parts[1]] = parts[0]
    gdir = os.path.join(os.path.abspath(repo), "docker", "grafana")
    if mounts.get("/etc/grafana/provisioning") != os.path.join(gdir, "provisioning"):
        problem("compose: grafana does not mount docker/grafana/provisioning at /etc/grafana/provisioning")
    if mounts.get("/var/lib/grafana/dashboards") != os.path.join(gdir, "dashboards"):
        problem("compose: grafana does not mount docker/grafana/dashboards at /var/lib/grafana/dashboards")
    hc = services["feedcached"].get("healthcheck")
    deps = services["feedcached"].get("depends_on") or {}
    for dep, cond in (("redis", "service_healthy"), ("postgres", "service_healthy"),
                      ("demo-loader", "service_completed_successfully")):
        got = deps.get(dep, {}).get("condition") if isinstance(deps, dict) else None
        if got != cond:
            problem(f"compose: feedcached should wait for {dep} ({cond}), has {got}")
    print(f"compose: {len(services)} services; feedcached -> redis {m.group(1) if m else '?'}, "
          f"postgres {pg.get('host')}, metrics port {metrics_port}, healthcheck {'yes' if hc else 'from image'}")


# --- Dockerfile ------------------------------------------------------------------------------

def dockerfile_instructions(path):
    """(INSTRUCTION, arguments) with continuation lines joined, comments dropped."""
    out, cur = [], ""
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if not cur and (not line.strip() or line.lstrip().startswith("#")):
                continue
            if cur and line.lstrip().startswith("#"):
                continue
            cur += " " + line.strip() if cur else line.strip()
            if cur.endswith("\\"):
                cur = cur[:-1].rstrip()
                continue
            word, _, rest = cur.partition(" ")
            out.append((word.upper(), rest.strip()))
            cur = ""
    return out


def check_dockerfile(path, repo, *packages):
    import fnmatch
    ins = dockerfile_instructions(path)
    args = {}
    stages = []         # [(image, [instructions])]
    names = []          # stage names (FROM ... AS name)
    for word, rest in ins:
        if word == "ARG" and not stages:
            name, _, default = rest.partition("=")
            args[name.strip()] = default.strip()
        elif word == "FROM":
            image = re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)), rest.split()[0])
            m = re.search(r"\s[Aa][Ss]\s+(\S+)", rest)
            stages.append((image, []))
            names.append(m.group(1) if m else None)
        elif word == "COPY" and stages:
            m = re.search(r"--from=(\S+)", rest)
            if m and m.group(1) not in names[:-1] and not m.group(1).isdigit():
                problem(f"{path}: COPY --from={m.group(1)} names no earlier stage ({names[:-1]})")
            stages[-1][1].append((word, rest))
        elif stages:
            stages[-1][1].append((word, rest))
    if len(stages) < 2:
        problem(f"{path}: {len(stages)} stage(s); want a build stage and a runtime stage")
        return
    image, body = stages[-1]
    if image != "debian:bookworm-slim":
        problem(f"{path}: the runtime stage is {image}, want debian:bookworm-slim")
    users = [rest for word, rest in body if word == "USER"]
    if not users or users[-1].split(":")[0] in ("root", "0"):
        problem(f"{path}: the runtime stage does not switch to a non-root USER")
    hcs = [rest for word, rest in body if word == "HEALTHCHECK"]
    if not hcs or "/healthz" not in hcs[-1]:
        problem(f"{path}: the runtime stage has no HEALTHCHECK on /healthz")
    if not any(word == "COPY" and "--from=" in rest for word, rest in body):
        problem(f"{path}: the runtime stage copies nothing from the build stage")
    installed = set()
    for word, rest in body:
        if word == "RUN" and "apt-get install" in rest:
            seg = rest.split("apt-get install", 1)[1].split("&&")[0]
            installed |= {w for w in seg.split() if not w.startswith("-")}
    for pkg in sorted(installed):
        if pkg.endswith("-dev"):
            problem(f"{path}: the runtime stage installs a -dev package: {pkg}")
    for pkg in packages:
        if pkg not in installed:
            problem(f"{path}: the binaries need package {pkg}, the runtime stage does not install it")
    ignore = []
    ign_path = path + ".dockerignore"
    if os.path.exists(ign_path):
        for line in open(ign_path):
            line = line.strip()
            if line and not line.startswith("#"):
                ignore.append(line.rstrip("/"))
    copies = 0
    for _, body in stages:
        for word, rest in body:
            if word != "COPY" or "--from=" in rest:
                continue
            srcs = [w for w in rest.split() if not w.startswith("--")][:-1]
            for src in srcs:
                copies += 1
                src = src.rstrip("/")
                if not os.path.exists(os.path.join(repo, src)):
                    problem(f"{path}: COPY {src}: no such file in the build context {repo}")
                for pat in ignore:
                    if fnmatch.fnmatch(src, pat) or fnmatch.fnmatch(src.split("/")[0], pat):
                        problem(f"{path}: COPY {src} is excluded by {ign_path} ({pat})")
    print(f"dockerfile: {len(stages)} stages, runtime {image} as {users[-1] if users else '?'}, "
          f"{copies} COPY sources, runtime packages {sorted(installed)}")


# --- against a live feedcached and Prometheus -------------------------------------------

def parse_scrape(path):
    """{family: (type, label names)} of a Prometheus text exposition."""
    types, labels = {}, {}
    with open(path) as f:
        lines = f.read().splitlines()
    for line in lines:
        m = re.match(r"# TYPE (\S+) (\S+)", line)
        if m:
            types[m.group(1)] = m.group(2)
            labels.setdefault(m.group(1), set())
    for line in lines:
        if not line or line.startswith("#"):
            continue
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s", line)
        if not m:
            continue
        name = m.group(1)
        fam = name
        if fam not in types:
            fam = re.sub(r"_(bucket|sum|count)$", "", name)
        if fam not in types:
            problem(f"scrape: sample {name} has no # TYPE line")
            continue
        names = set(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="', m.group(3) or ""))
        labels[fam] |= names - {"le", "quantile"}
    return {fam: (types[fam], labels[fam]) for fam in types}


def check_families(metrics_path, scrape_path):
    fams = load_families(metrics_path)
    got = parse_scrape(scrape_path)
    for name, fam in sorted(fams.items()):
        if name not in got:
            if fam.pending:
                print(f"note: {name} is pending and not exported yet")
            else:
                problem(f"{name} is listed in {metrics_path} but feedcached does not export it")
            continue
        mtype, labels = got[name]
        if fam.pending:
            problem(f"{name} is exported now: remove its `pending` mark in {metrics_path}")
        if mtype != fam.type:
            problem(f"{name}: feedcached exports a {mtype}, {metrics_path} says {fam.type}")
        if labels != fam.labels:
            problem(f"{name}: feedcached's labels are {sorted(labels) or '-'}, "
                    f"{metrics_path} says {sorted(fam.labels) or '-'}")
    for name in sorted(got):
        if name.startswith("feedcache_") and name not in fams:
            problem(f"{name} is exported but not listed in {metrics_path} "
                    f"(add: {name} {got[name][0]} {','.join(sorted(got[name][1])) or '-'})")
    print(f"families: {len(got)} exported, {len(fams)} listed")


def prom_get(url, path, **params):
    import urllib.parse
    import urllib.request
    q = urllib.parse.urlencode(params)
    with urllib.request.urlopen(f"{url}{path}?{q}", timeout=10) as r:
        return json.load(r)


def check_live(dash_path, metrics_path, alerts_path, url):
    import urllib.error
    fams = load_families(metrics_path)
    names = series_names(fams)
    pending = set()
    for fam in fams.values():
        if fam.pending:
            pending |= {n for n in names if n == fam.name or n.startswith(fam.name + "_")}
    dash = json.load(open(dash_path))
    n = 0
    for p in all_panels(dash.get("panels", [])):
        for t in p.get("targets", []) or []:
            expr = t.get("expr")
            if not expr:
                continue
            n += 1
            where = f"panel {p.get('id')} {p.get('title')!r} target {t.get('refId')}"
            sample = re.sub(r"\$\{?(\w+)\}?", lambda m: BUILTIN_VARS.get(m.group(1), ".+"), expr)
            try:
                res = prom_get(url, "/api/v1/query", query=sample)
            except urllib.error.HTTPError as e:
                problem(f"{where}: Prometheus refused the query: {e.read().decode(errors='replace')[:300]}")
                continue
            if res.get("status") != "success":
                problem(f"{where}: {res}")
                continue
            used = {s.name for s in analyse(expr, where)[0]}
            if not res["data"]["result"]:
                if used and used <= pending:
                    print(f"note: {where}: empty (uses only pending families)")
                else:
                    problem(f"{where}: empty result for {sample}")
    rules = prom_get(url, "/api/v1/rules")["data"]["groups"]
    loaded = {r["name"]: r for g in rules for r in g["rules"]}
    want = [name for name, _ in rule_exprs(alerts_path)]
    for name in want:
        r = loaded.get(name)
        if r is None:
            problem(f"alert {name} is not loaded by Prometheus")
        elif r.get("health") != "ok":
            problem(f"alert {name}: health {r.get('health')}: {r.get('lastError')}")
    print(f"live: {n} dashboard queries evaluated, {len(want)} alert rules loaded")


def print_alerts(url):
    for a in prom_get(url, "/api/v1/alerts")["data"]["alerts"]:
        lab = a.get("labels", {})
        print(lab.get("alertname"), a.get("state"), lab.get("instance", "-"))


def problems_so_far():
    return bool(PROBLEMS)


def main(argv):
    cmds = {"dashboard": (check_dashboard, 3), "rules": (check_rules, 2),
            "provisioning": (check_provisioning, 2), "compose": (check_compose, 2),
            "dockerfile": (check_dockerfile, -2), "families": (check_families, 2),
            "live": (check_live, 4), "alerts": (print_alerts, 1)}
    nargs = cmds[argv[1]][1] if len(argv) >= 2 and argv[1] in cmds else None
    if nargs is None or (len(argv) - 2 != nargs if nargs >= 0 else len(argv) - 2 < -nargs):
        print(__doc__, file=sys.stderr)
        return 2
    fn, _ = cmds[argv[1]]
    fn(*argv[2:])
    return 1 if PROBLEMS else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
