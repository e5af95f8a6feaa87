#!/usr/bin/env python3
"""Benchmark harness: pipy-rs against nginx and HAProxy (issue 5).

Started by bench/run.sh, which installs the tools and builds the binaries first. Every server
runs one worker pinned to CPU 0; the load generator (and the nginx origin behind the proxies)
is pinned to CPU 1. Within a scenario all contenders are started together and measured in
interleaved rounds, and the median round is reported.

Settings come from the environment (so `make bench BENCH_DURATION=3` works):
  BENCH_SCENARIOS   comma list of hello,churn,route,proxy,gateway,large,memory,latency (default: all)
  BENCH_DURATION    seconds per wrk / latency round (default 10)
  BENCH_ROUNDS      rounds per contender (default 3)
  BENCH_CONNECTIONS wrk connections (default 50)
  BENCH_IDLE        idle keep-alive connections in the memory scenario (default 5000)
  BENCH_RATE        requests/s offered in the latency scenario (default 1000)
  BENCH_BUSY_POLL   --busy-poll window of the latency scenario's second pipy (default 1ms)
  BENCH_PIPY        pipy binary (default target/release/pipy)
  BENCH_LATENCY     bench-latency binary (default target/bench-latency/release/bench-latency)
  BENCH_OUTPUT      directory for RESULTS.md, results.json, results.png (default bench/)
  BENCH_REPORT_ONLY =1: measure nothing, write RESULTS.md and results.png again from the
                    results.json in BENCH_OUTPUT (after a change to the report's text; run with
                    the settings of the run that wrote it)
  BENCH_HISTORY_REBUILD =1: measure nothing, write BENCH_OUTPUT/history.jsonl again from every
                    version of bench/results.json in git (after a change to how targets are
                    checked)

A full run (every scenario, 3 rounds × 10 s or more) is added to BENCH_OUTPUT/history.jsonl,
and RESULTS.md counts how often each target held across the recorded runs (bench/history.py).
"""

import datetime
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

import history

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_DIR = os.path.dirname(BENCH_DIR)
CONF_DIR = os.path.join(BENCH_DIR, "conf")
SCRIPTS_DIR = os.path.join(BENCH_DIR, "scripts")

ALL_SCENARIOS = ["hello", "churn", "route", "proxy", "gateway", "large", "memory", "latency"]
LARGE_BODY_BYTES = 1024 * 1024
# A round with more failed requests than this share is dropped rather than reported.
MAX_ERROR_SHARE = 0.01
SERVER_CPU = "0"
CLIENT_CPU = "1"

# Ports tried first (each moves up if taken). Everything listens on 127.0.0.1 only.
PREFERRED_PORTS = {"pipy": 18100, "nginx": 18200, "haproxy": 18300, "backend": 18400,
                   "pipy-engine": 18500, "pipy-adaptive": 18600}

# Issue 5 targets, checked in the summary.
TARGETS = {
    "hello_vs_nginx": 1.1,
    "route_vs_nginx_hello": 0.8,
    "proxy_vs_nginx": 1.3,
    "proxy_vs_haproxy": 1.1,
    "large_vs_nginx": 1.0,
    "idle_rss_mb": 12.0,
    "per_connection_kib": 1.0,
    "p99_over_direct_ms": 0.1,
}


def env_int(name, default):
    value = os.environ.get(name, "")
    return int(value) if value.strip() else default


def log(message):
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


class Settings:
    """What to run, read once from the environment."""

    def __init__(self):
        chosen = os.environ.get("BENCH_SCENARIOS", "").strip()
        self.scenarios = [s.strip() for s in chosen.split(",") if s.strip()] or ALL_SCENARIOS
        unknown = [s for s in self.scenarios if s not in ALL_SCENARIOS]
        if unknown:
            raise SystemExit(f"unknown scenario(s) {unknown}; known: {ALL_SCENARIOS}")
        self.duration = env_int("BENCH_DURATION", 10)
        self.rounds = env_int("BENCH_ROUNDS", 3)
        self.connections = env_int("BENCH_CONNECTIONS", 50)
        self.idle = env_int("BENCH_IDLE", 5000)
        self.rate = env_int("BENCH_RATE", 1000)
        self.busy_poll = os.environ.get("BENCH_BUSY_POLL") or "1ms"
        self.pipy = os.path.abspath(
            os.environ.get("BENCH_PIPY") or os.path.join(REPO_DIR, "target/release/pipy"))
        self.latency = os.path.abspath(os.environ.get("BENCH_LATENCY") or os.path.join(
            REPO_DIR, "target/bench-latency/release/bench-latency"))
        self.output = os.path.abspath(os.environ.get("BENCH_OUTPUT") or BENCH_DIR)
        self.two_cpus = (os.cpu_count() or 1) >= 2


# ----------------------------------------------------------------------------------------------
# Processes


class Processes:
    """Every server this run starts, each in its own process group, so all can be ended."""

    def __init__(self, run_dir):
        self.run_dir = run_dir
        self.running = {}
        self.pid_file = os.path.join(run_dir, "pgids")

    def start(self, name, argv, cpu, env=None, cwd=None):
        log_path = os.path.join(self.run_dir, f"{name}.log")
        full_env = dict(os.environ)
        full_env.update(env or {})
        with open(log_path, "ab") as log_file:
            process = subprocess.Popen(
                ["taskset", "-c", cpu] + argv, stdin=subprocess.DEVNULL, stdout=log_file,
                stderr=subprocess.STDOUT, env=full_env, cwd=cwd, start_new_session=True)
        self.running[name] = process
        self._record()
        return process

    def stop(self, name):
        process = self.running.pop(name, None)
        if process is None:
            return
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        # The group may still hold workers after the leader exits.
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            log(f"warning: {name} (pid {process.pid}) did not exit")
        self._record()

    def stop_all(self):
        for name in list(self.running):
            self.stop(name)

    def log_tail(self, name, lines=15):
        try:
            with open(os.path.join(self.run_dir, f"{name}.log"), errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""

    def _record(self):
        # run.sh's trap reads this if Python itself dies without cleaning up.
        with open(self.pid_file, "w") as f:
            f.write("".join(f"{p.pid}\n" for p in self.running.values()))


def port_is_free(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def pick_ports():
    ports, taken = {}, set()
    for role, port in PREFERRED_PORTS.items():
        while port in taken or not port_is_free(port):
            port += 1
        ports[role] = port
        taken.add(port)
    return ports


def wait_for_port(port, process, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def children_of(pid):
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # Fields after the parenthesised command: state, ppid, ...
        fields = stat.rsplit(")", 1)[-1].split()
        if len(fields) > 1 and int(fields[1]) == pid:
            found.append(int(entry))
    return found


def worker_pid(process, timeout=10.0):
    """The serving process of pipy or nginx: the master's one worker. Waits for it (pipy's
    master binds the port before it forks, so the port answering is not enough); raises if
    there is not exactly one, rather than measuring the master."""
    # The process we started is taskset, which execs the server, so pids are equal.
    deadline = time.monotonic() + timeout
    while True:
        kids = children_of(process.pid)
        if len(kids) == 1:
            return kids[0]
        if time.monotonic() >= deadline:
            raise RuntimeError(f"pid {process.pid} has {len(kids)} workers, expected 1")
        time.sleep(0.05)


def serving_pid(process):
    """The process that does the serving: a master's single worker (pipy, nginx), else the
    process itself (HAProxy in the foreground)."""
    kids = children_of(process.pid)
    return kids[0] if len(kids) == 1 else process.pid


def cpu_ns(pid):
    """CPU time the process has used so far, in nanoseconds (None once it is gone).
    /proc/PID/schedstat counts nanoseconds; stat's utime+stime only clock ticks."""
    try:
        with open(f"/proc/{pid}/schedstat") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


# Per-round measures of a throughput scenario, each reported as the median of the rounds.
ROUND_MEASURES = ("cpu_us", "wrk_cpu_us", "origin_cpu_us", "wrk_sleeps", "wrk_preempted",
                  "origin_sleeps", "client_core_busy", "server_core_share")


def status_number(pid, field):
    """The number after `field:` in /proc/PID/status (None once the process is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(f"{field}:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def core_times(cpu):
    """(busy, total) jiffies of one CPU so far, from /proc/stat; None if unreadable. Busy is
    user, nice, system, irq and softirq time; total adds idle, iowait and steal."""
    try:
        with open("/proc/stat") as f:
            for line in f:
                fields = line.split()
                if fields[0] == f"cpu{cpu}":
                    user, nice, system, idle, iowait, irq, softirq, steal = map(int, fields[1:9])
                    busy = user + nice + system + irq + softirq
                    return busy, busy + idle + iowait + steal
    except (OSError, ValueError):
        pass
    return None


def rss_kib(pid):
    kib = status_number(pid, "VmRSS")
    if kib is None:
        raise RuntimeError(f"no VmRSS for pid {pid}")
    return kib


# ----------------------------------------------------------------------------------------------
# Servers


def fill(template, values):
    for key, value in values.items():
        template = template.replace(f"@@{key}@@", str(value))
    leftover = re.findall(r"@@[A-Z_]+@@", template)
    if leftover:
        raise RuntimeError(f"unfilled placeholders {leftover}")
    return template


def read_conf(name):
    with open(os.path.join(CONF_DIR, name)) as f:
        return f.read()


class Contender:
    """One server configuration: how to start it and which port it answers on."""

    def __init__(self, name, kind, argv, port, env=None, cwd=None, cpu=SERVER_CPU):
        self.name, self.kind, self.argv, self.port = name, kind, argv, port
        self.env, self.cwd, self.cpu = env or {}, cwd, cpu
        self.process = None
        self.error = None

    def command_line(self):
        env = " ".join(f"{k}={v}" for k, v in self.env.items())
        return (env + " " if env else "") + f"taskset -c {self.cpu} " + " ".join(self.argv)


class Servers:
    """Builds the contenders of each scenario from bench/conf and bench/scripts."""

    def __init__(self, settings, run_dir, ports):
        self.settings, self.run_dir, self.ports = settings, run_dir, ports
        self.nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[0]

    def pipy(self, name, script, env=None, cwd=None, options=(), port_role="pipy"):
        full_env = {"PIPY_SPAWN": "0", "PORT": str(self.ports[port_role]),
                    "BACKEND_PORT": str(self.ports["backend"])}
        full_env.update(env or {})
        return Contender(name, "pipy",
                         [self.settings.pipy, "--log-level=warn", *options, script],
                         self.ports[port_role], full_env, cwd)

    def pipy_script(self, scenario, variant="", options=(), port_role="pipy"):
        """pipy running bench/scripts/SCENARIO.js, named pipy-SCENARIO[-VARIANT]; a variant
        runs with other options on a port of its own."""
        name = f"pipy-{scenario}-{variant}" if variant else f"pipy-{scenario}"
        return self.pipy(name, os.path.join(SCRIPTS_DIR, f"{scenario}.js"), options=options,
                         port_role=port_role)

    def nginx(self, scenario, port_role="nginx", cpu=SERVER_CPU):
        name = f"nginx-{scenario}"
        values = {"RUN": self.run_dir, "NAME": name, "PORT": self.ports[port_role],
                  "BACKEND_PORT": self.ports["backend"], "NOFILE": self.nofile}
        server = fill(read_conf(f"nginx-{scenario}.server.tmpl"), values)
        config = fill(read_conf("nginx.conf.tmpl"), dict(values, SERVER=server))
        path = os.path.join(self.run_dir, f"{name}.conf")
        with open(path, "w") as f:
            f.write(config)
        startup_log = os.path.join(self.run_dir, f"{name}.startup.log")
        argv = ["nginx", "-p", self.run_dir, "-e", startup_log, "-c", path]
        return Contender(name, "nginx", argv, self.ports[port_role], cpu=cpu)

    def haproxy(self, scenario):
        name = f"haproxy-{scenario}"
        values = {"RUN": self.run_dir, "NAME": name, "PORT": self.ports["haproxy"],
                  "BACKEND_PORT": self.ports["backend"],
                  "MAXCONN": max(1000, min(20000, (self.nofile - 200) // 2))}
        frontend = fill(read_conf(f"haproxy-{scenario}.frontend.tmpl"), values).rstrip("\n")
        config = fill(read_conf("haproxy.cfg.tmpl"), dict(values, FRONTEND=frontend))
        path = os.path.join(self.run_dir, f"{name}.cfg")
        with open(path, "w") as f:
            f.write(config)
        return Contender(name, "haproxy", ["haproxy", "-db", "-f", path], self.ports["haproxy"])

    def backend(self):
        www = os.path.join(self.run_dir, "www")
        os.makedirs(www, exist_ok=True)
        with open(os.path.join(www, "1m"), "wb") as f:
            f.write(bytes(range(256)) * (LARGE_BODY_BYTES // 256))
        return self.nginx("backend", port_role="backend", cpu=CLIENT_CPU)

    def gateway(self):
        """examples/gateway with its upstream targets pointed at the bench backend, or None."""
        source = os.path.join(REPO_DIR, "examples", "gateway")
        if not os.path.isfile(os.path.join(source, "proxy.js")):
            return None
        copy = os.path.join(self.run_dir, "gateway")
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(source, copy)
        backend = f"127.0.0.1:{self.ports['backend']}"
        for folder, _, files in os.walk(copy):
            for file in files:
                if file.endswith(".json"):
                    retarget_json(os.path.join(folder, file), backend, self.ports["pipy"])
        return self.pipy("pipy-gateway", "proxy.js", cwd=copy)

    def gateway_path(self):
        """A request path the gateway routes to a service: the first route pattern found in its
        configuration, with any trailing `*` filled in; `/` when there is none."""
        for folder, _, files in sorted(os.walk(os.path.join(self.run_dir, "gateway"))):
            for file in sorted(files):
                if not file.endswith(".json"):
                    continue
                try:
                    with open(os.path.join(folder, file)) as f:
                        pattern = first_route(json.load(f))
                except ValueError:
                    continue
                if pattern:
                    return pattern.replace("*", "bench")
        return "/"


def first_route(node):
    """The first object key that looks like a URL pattern (`/a/*` or `host/a`), depth first."""
    if isinstance(node, dict):
        for key, value in node.items():
            if re.match(r"^([\w*.-]+)?/[\w/*.-]*$", key):
                return key[key.index("/"):]
            found = first_route(value)
            if found:
                return found
    elif isinstance(node, list):
        for item in node:
            found = first_route(item)
            if found:
                return found
    return None


def retarget_json(path, backend, listen_port):
    """Points every upstream address in a gateway config file at the backend and the listen
    port at ours, whatever the file's layout: any "host:port" string becomes the backend, any
    "listen" member 127.0.0.1 and the pipy port."""
    with open(path) as f:
        try:
            data = json.load(f)
        except ValueError:
            return
    address = re.compile(r"^(https?://)?(localhost|127\.0\.0\.1|[\w.-]+):\d+$")

    def walk(node):
        if isinstance(node, dict):
            out = {}
            for key, value in node.items():
                new_key = address.sub(lambda m: (m.group(1) or "") + backend, key)
                if key == "listen" and isinstance(value, (int, str)):
                    out[new_key] = f"127.0.0.1:{listen_port}"
                else:
                    out[new_key] = walk(value)
            return out
        if isinstance(node, list):
            return [walk(item) for item in node]
        if isinstance(node, str):
            return address.sub(lambda m: (m.group(1) or "") + backend, node)
        return node

    with open(path, "w") as f:
        json.dump(walk(data), f, indent=2)


# ----------------------------------------------------------------------------------------------
# Measurements


def http_get(port, path):
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, response.read()


def check_response(contender, path, expect):
    """Returns None when the contender answers as expected, else why not."""
    try:
        status, body = http_get(contender.port, path)
    except Exception as error:  # noqa: BLE001 - any failure disqualifies the contender
        return f"GET {path}: {error}"
    if status != 200:
        return f"GET {path}: status {status}"
    if callable(expect):
        return expect(body)
    if body != expect:
        return f"GET {path}: unexpected body {body[:80]!r}"
    return None


def wrk_header_args(headers):
    return [arg for header in headers for arg in ("-H", header)]


def run_wrk(settings, port, path, duration=None, headers=()):
    duration = duration or settings.duration
    argv = ["taskset", "-c", CLIENT_CPU, "wrk", "-t1", f"-c{settings.connections}",
            f"-d{duration}s", *wrk_header_args(headers), f"http://127.0.0.1:{port}{path}"]
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 60)
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = parse_wrk(done.stdout + done.stderr)
    # taskset execs wrk, so the child that was waited for is wrk itself.
    wrk_s = (children_after.ru_utime + children_after.ru_stime
             - children_before.ru_utime - children_before.ru_stime)
    if result["requests"] > 0:
        result["wrk_cpu_us"] = wrk_s * 1e6 / result["requests"]
        # How CPU 1 takes turns: wrk sleeps when all its connections wait on the server, and is
        # preempted when the origin, woken on the same core, runs before it (ANALYSIS.md,
        # twenty-eighth session).
        result["wrk_sleeps"] = (children_after.ru_nvcsw
                                - children_before.ru_nvcsw) / result["requests"]
        result["wrk_preempted"] = (children_after.ru_nivcsw
                                   - children_before.ru_nivcsw) / result["requests"]
    return result


def parse_wrk(output):
    def number(pattern, default=0.0):
        match = re.search(pattern, output)
        return float(match.group(1)) if match else default

    errors = int(number(r"Non-2xx or 3xx responses:\s+(\d+)"))
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    if socket_errors:
        errors += sum(int(g) for g in socket_errors.groups())
    return {"rps": number(r"Requests/sec:\s+([\d.]+)"),
            "requests": int(number(r"(\d+) requests in")),
            "errors": errors}


def run_latency(settings, port, path):
    argv = ["taskset", "-c", CLIENT_CPU, settings.latency, "--url",
            f"http://127.0.0.1:{port}{path}", "--rate", str(settings.rate),
            "--duration", str(settings.duration), "--connections", "4", "--warmup", "1"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=settings.duration + 60)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"bench-latency failed: {done.stderr.strip()[:300]}")
    return json.loads(lines[-1])


def readable(command, run_dir):
    """A command line with the temporary directory shown as $RUN and repository paths relative."""
    return command.replace(run_dir, "$RUN").replace(REPO_DIR + "/", "")


def median(values):
    return statistics.median(values) if values else None


class Bench:
    """Runs the chosen scenarios and collects their results."""

    def __init__(self, settings, run_dir):
        self.settings = settings
        self.run_dir = run_dir
        self.processes = Processes(run_dir)
        self.ports = pick_ports()
        self.servers = Servers(settings, run_dir, self.ports)
        self.results = {}
        self.commands = {}
        # Things that went wrong during the run (a server that died and was restarted, dropped
        # rounds), listed in RESULTS.md so that a number is never trusted blindly.
        self.incidents = []

    def incident(self, message):
        log(f"warning: {message}")
        self.incidents.append(message)

    # -- helpers ---------------------------------------------------------------------------

    def start(self, contender):
        self.commands[contender.name] = readable(contender.command_line(), self.run_dir)
        contender.process = self.processes.start(
            contender.name, contender.argv, contender.cpu, contender.env, contender.cwd)
        if not wait_for_port(contender.port, contender.process):
            contender.error = "did not start listening"
            tail = self.processes.log_tail(contender.name)
            log(f"{contender.name}: {contender.error}\n{tail}")
            self.processes.stop(contender.name)
            return False
        return True

    def ensure_running(self, contender):
        """Restarts a server that died during the scenario (something else on the machine may
        have killed it); False when it cannot be brought back."""
        if contender.process is not None and contender.process.poll() is None:
            return True
        status = contender.process.returncode if contender.process else None
        self.incident(f"{contender.name} exited (status {status}) during the run; restarted")
        self.processes.stop(contender.name)
        return self.start(contender)

    def measure(self, label, servers, run_round):
        """One round: `run_round()` gives (result, None) or (None, why it failed). A failed
        round is run once more after restarting any server that died; then it is dropped."""
        for attempt in ("", " (retry)"):
            if not all(self.ensure_running(server) for server in servers if server):
                self.incident(f"{label}{attempt} dropped: a server could not be restarted")
                return None
            result, problem = run_round()
            if result is not None:
                return result
            self.incident(f"{label}{attempt} failed: {problem}")
        return None

    def start_all(self, contenders, path, expect):
        ready = []
        for contender in contenders:
            if not self.start(contender):
                continue
            problem = check_response(contender, path, expect)
            if problem:
                contender.error = problem
                log(f"{contender.name}: skipped: {problem}")
                self.processes.stop(contender.name)
                continue
            ready.append(contender)
        return ready

    def throughput(self, scenario, contenders, path, expect, backend=False, headers=()):
        """wrk against each contender, rounds interleaved; stores medians under scenario."""
        log(f"scenario {scenario}")
        origin = None
        if backend:
            origin = self.servers.backend()
            if not self.start(origin):
                self.results[scenario] = {"error": "backend did not start"}
                return
        ready = self.start_all(contenders, path, expect)
        rounds = {c.name: [] for c in ready}
        dropped = {c.name: 0 for c in ready}
        try:
            for contender in ready:  # warm-up: connections, caches, lazy init
                run_wrk(self.settings, contender.port, path, duration=1, headers=headers)
            for round_index in range(self.settings.rounds):
                for contender in ready:
                    label = f"{scenario}: {contender.name} round {round_index + 1}"

                    def wrk_round(contender=contender):
                        pid = serving_pid(contender.process)
                        origin_pid = serving_pid(origin.process) if origin else None
                        cpu_before = cpu_ns(pid)
                        origin_before = cpu_ns(origin_pid) if origin_pid else None
                        origin_sleeps_before = (status_number(origin_pid, "voluntary_ctxt_switches")
                                                if origin_pid else None)
                        core_before = core_times(CLIENT_CPU)
                        started = time.monotonic()
                        result = run_wrk(self.settings, contender.port, path,
                                         headers=headers)
                        elapsed = time.monotonic() - started
                        core_after = core_times(CLIENT_CPU)
                        origin_after = cpu_ns(origin_pid) if origin_pid else None
                        origin_sleeps_after = (status_number(origin_pid, "voluntary_ctxt_switches")
                                               if origin_pid else None)
                        cpu_after = cpu_ns(pid)
                        requests = result["requests"]
                        if cpu_before is not None and cpu_after is not None and requests > 0:
                            result["cpu_us"] = (cpu_after - cpu_before) / 1000 / requests
                            result["server_core_share"] = (cpu_after - cpu_before) / 1e9 / elapsed
                        if origin_before is not None and origin_after is not None \
                                and requests > 0:
                            result["origin_cpu_us"] = (origin_after - origin_before) / 1000 \
                                / requests
                        if origin_sleeps_before is not None and origin_sleeps_after is not None \
                                and requests > 0:
                            result["origin_sleeps"] = (origin_sleeps_after
                                                       - origin_sleeps_before) / requests
                        if core_before and core_after and core_after[1] > core_before[1]:
                            result["client_core_busy"] = (core_after[0] - core_before[0]) \
                                / (core_after[1] - core_before[1])
                        cpu = f", {result['cpu_us']:.1f} µs CPU/request" if "cpu_us" in result else ""
                        log(f"  {label}: {result['rps']:.0f} req/s{cpu}, {result['errors']} errors")
                        failed = result["errors"] > MAX_ERROR_SHARE * result["requests"]
                        if result["rps"] <= 0 or failed:
                            return None, (f"{result['errors']} errors in "
                                          f"{result['requests']} requests")
                        return result, None

                    result = self.measure(label, [origin, contender], wrk_round)
                    if result is None:
                        dropped[contender.name] += 1
                    else:
                        result["round"] = round_index
                        rounds[contender.name].append(result)
        finally:
            rss_after = {}
            for contender in ready:
                # What the serving process holds after its rounds: memory that piles up per
                # request (timers, caches, garbage) shows here and not in the idle scenario.
                try:
                    rss_after[contender.name] = rss_kib(serving_pid(contender.process))
                except (OSError, RuntimeError):
                    pass
                self.processes.stop(contender.name)
            if origin:
                self.processes.stop(origin.name)
        header_text = "".join(f"-H '{h}' " for h in headers)
        self.commands[f"wrk ({scenario})"] = (
            f"taskset -c {CLIENT_CPU} wrk -t1 -c{self.settings.connections} "
            f"-d{self.settings.duration}s {header_text}http://127.0.0.1:PORT{path}")
        entry = {}
        for contender in contenders:
            runs = rounds.get(contender.name)
            if not runs:
                entry[contender.name] = {"error": contender.error or "not run"}
                continue
            entry[contender.name] = {
                "rps": median([r["rps"] for r in runs]),
                "rounds": [r["rps"] for r in runs],
                "round_numbers": [r["round"] for r in runs],
                # Rounds where a measure could not be taken (a process gone, no requests) have
                # no key for it; the median is over the rounds that do.
                **{key: median([r[key] for r in runs if key in r]) for key in ROUND_MEASURES},
                "errors": sum(r["errors"] for r in runs),
                "requests": sum(r["requests"] for r in runs),
                "dropped": dropped.get(contender.name, 0),
                "rss_after_kib": rss_after.get(contender.name),
            }
        self.results[scenario] = entry

    # -- scenarios -------------------------------------------------------------------------

    def adaptive(self, scenario):
        """pipy running `scenario` with `--busy-poll=auto`: what adaptive busy polling would
        add to the default (docs/performance.md)."""
        return self.servers.pipy_script(scenario, "busy-poll-auto", ("--busy-poll=auto",),
                                        "pipy-adaptive")

    def hello(self):
        s = self.servers
        self.throughput("hello", [s.pipy_script("hello"), s.nginx("hello"), s.haproxy("hello"),
                                  self.adaptive("hello")],
                        "/", b"Hi, there!\n")

    def churn(self):
        """hello again, with a new connection for every request: the accept, set-up and
        teardown path that keep-alive hides (clients without keep-alive, health checks)."""
        s = self.servers
        self.throughput("churn", [s.pipy_script("hello"), s.nginx("hello"), s.haproxy("hello")],
                        "/", b"Hi, there!\n", headers=("Connection: close",))

    def route(self):
        s = self.servers
        # The same script with the callback left to the JS engine: what compiling it saves.
        engine = s.pipy_script("route", "engine", ("--no-native-callbacks",), "pipy-engine")
        self.throughput("route", [s.pipy_script("route"), s.nginx("route"), s.haproxy("route"),
                                  engine],
                        "/api/users/42", b"api: GET /api/users/42\n")

    def proxy(self):
        s = self.servers
        self.throughput("proxy", [s.pipy_script("proxy"), s.nginx("proxy"), s.haproxy("proxy"),
                                  self.adaptive("proxy")],
                        "/", b"Hi, there!\n", backend=True)

    def gateway(self):
        s = self.servers
        gateway = s.gateway()
        if gateway is None:
            log("scenario gateway: examples/gateway/proxy.js not found, skipped")
            self.results["gateway"] = {"error": "examples/gateway/proxy.js not found"}
            return
        path = os.environ.get("BENCH_GATEWAY_PATH") or s.gateway_path()
        log(f"gateway: requests to {path}")
        self.throughput("gateway", [gateway, s.nginx("proxy"), s.haproxy("proxy")],
                        path, b"Hi, there!\n", backend=True)

    def large(self):
        s = self.servers

        def full_size(body):
            if len(body) == LARGE_BODY_BYTES:
                return None
            return f"GET /1m: body of {len(body)} bytes"

        self.throughput("large", [s.pipy_script("proxy"), s.nginx("proxy"), s.haproxy("proxy")],
                        "/1m", full_size, backend=True)
        for entry in self.results["large"].values():
            if "rps" in entry:
                entry["mib_s"] = entry["rps"] * LARGE_BODY_BYTES / (1024 * 1024)

    def memory(self):
        log("scenario memory")
        s = self.servers
        entry = {}
        for contender in [s.pipy_script("hello"), s.nginx("hello")]:
            samples = []
            for _ in range(self.settings.rounds):
                sample = self.memory_round(contender)
                if sample is None:
                    break
                samples.append(sample)
                log(f"  {contender.name}: idle {sample['idle_kib']} KiB, "
                    f"+{sample['per_connection_kib']:.2f} KiB/connection "
                    f"({sample['held']} held)")
            if samples:
                entry[contender.name] = {
                    "idle_kib": median([x["idle_kib"] for x in samples]),
                    "loaded_kib": median([x["loaded_kib"] for x in samples]),
                    "per_connection_kib": median([x["per_connection_kib"] for x in samples]),
                    "held": min(x["held"] for x in samples),
                }
            else:
                entry[contender.name] = {"error": contender.error or "failed"}
        self.commands["idle connections"] = (
            f"taskset -c {CLIENT_CPU} python3 bench/idle_clients.py 127.0.0.1 PORT "
            f"{self.settings.idle}")
        self.results["memory"] = entry

    def memory_round(self, contender):
        if not self.start(contender):
            return None
        try:
            problem = check_response(contender, "/", b"Hi, there!\n")
            if problem:
                contender.error = problem
                log(f"{contender.name}: skipped: {problem}")
                return None
            pid = worker_pid(contender.process)
            # Let the worker finish start-up allocations before the idle sample.
            time.sleep(1)
            idle = rss_kib(pid)
            client = subprocess.Popen(
                ["taskset", "-c", CLIENT_CPU, sys.executable,
                 os.path.join(BENCH_DIR, "idle_clients.py"), "127.0.0.1", str(contender.port),
                 str(self.settings.idle)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            try:
                line = client.stdout.readline().split()
                held = int(line[1]) if len(line) == 3 and line[0] == "ready" else 0
                time.sleep(1)
                loaded = rss_kib(pid)
            finally:
                client.stdin.close()
                try:
                    client.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    client.kill()
                    client.wait()
            if held == 0:
                contender.error = "no idle connection could be opened"
                return None
            return {"idle_kib": idle, "loaded_kib": loaded, "held": held,
                    "per_connection_kib": (loaded - idle) / held}
        finally:
            self.processes.stop(contender.name)

    def latency(self):
        log("scenario latency")
        s = self.servers
        if not os.access(self.settings.latency, os.X_OK):
            self.results["latency"] = {"error": f"{self.settings.latency} not built"}
            return
        origin = s.backend()
        if not self.start(origin):
            self.results["latency"] = {"error": "backend did not start"}
            return
        direct = Contender("direct", "nginx", [], self.ports["backend"])
        # The same proxy with --busy-poll (docs/performance.md): it keeps polling for a while
        # after each event instead of sleeping, and sleeps once idle, so it takes nothing from
        # the contenders measured after it. HAProxy's `busy-polling` never sleeps and would.
        busy = s.pipy_script("proxy", "busy-poll", (f"--busy-poll={self.settings.busy_poll}",),
                             "pipy-engine")
        proxies = self.start_all(
            [s.pipy_script("proxy"), busy, s.nginx("proxy"), s.haproxy("proxy")], "/",
            b"Hi, there!\n")
        targets = proxies + [direct]
        rounds = {c.name: [] for c in targets}
        try:
            for round_index in range(self.settings.rounds):
                for contender in targets:
                    label = f"latency: {contender.name} round {round_index + 1}"

                    def latency_round(contender=contender):
                        try:
                            result = run_latency(self.settings, contender.port, "/")
                        except (RuntimeError, subprocess.TimeoutExpired, ValueError) as error:
                            return None, str(error)
                        log(f"  {label}: p50 {result['service_p50_us']:.0f} us, "
                            f"p99 {result['service_p99_us']:.0f} us, "
                            f"{result['achieved_rate']:.0f} req/s, {result['errors']} errors")
                        if result["requests"] == 0 or \
                                result["errors"] > MAX_ERROR_SHARE * result["requests"]:
                            return None, (f"{result['errors']} errors in "
                                          f"{result['requests'] + result['errors']} requests")
                        return result, None

                    servers = [origin] if contender is direct else [origin, contender]
                    result = self.measure(label, servers, latency_round)
                    if result is not None:
                        rounds[contender.name].append(result)
        finally:
            for contender in proxies:
                self.processes.stop(contender.name)
            self.processes.stop(origin.name)
        self.commands["latency client"] = (
            f"taskset -c {CLIENT_CPU} {os.path.relpath(self.settings.latency, REPO_DIR)} "
            f"--url http://127.0.0.1:PORT/ --rate {self.settings.rate} "
            f"--duration {self.settings.duration} --connections 4 --warmup 1")
        entry = {}
        for name, runs in rounds.items():
            if not runs:
                entry[name] = {"error": "not measured"}
                continue
            entry[name] = {key: median([r[key] for r in runs]) for key in (
                "service_p50_us", "service_p99_us", "scheduled_p99_us", "achieved_rate")}
            entry[name]["errors"] = sum(r["errors"] for r in runs)
        for name in ("pipy-proxy", "pipy-proxy-busy-poll", "nginx-proxy", "haproxy-proxy"):
            if name not in entry:
                entry[name] = {"error": "did not start"}
        self.results["latency"] = entry

    def run(self):
        for scenario in self.settings.scenarios:
            getattr(self, scenario)()
        return self.results


# ----------------------------------------------------------------------------------------------
# Report


def command_output(argv):
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        return (done.stdout + done.stderr).strip().splitlines()[0]
    except (OSError, subprocess.TimeoutExpired, IndexError):
        return "unknown"


def load_average():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "unknown"


def machine_info(settings):
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    commit = command_output(["git", "-C", REPO_DIR, "rev-parse", "--short", "HEAD"])
    dirty = subprocess.run(["git", "-C", REPO_DIR, "status", "--porcelain", "--", "src"],
                           capture_output=True, text=True).stdout.strip()
    return {
        "load": load_average(),
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "kernel": f"{platform.system()} {platform.release()}",
        "tcp": tcp_settings(),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "pipy": command_output([settings.pipy, "--version"]),
        "commit": commit + (" (src/ modified)" if dirty else ""),
        "nginx": command_output(["nginx", "-v"]),
        "haproxy": command_output(["haproxy", "-v"]),
        "wrk": command_output(["wrk", "-v"]).split(" Copyright")[0],
    }


def tcp_settings():
    """Congestion control and default qdisc: under BBR without the fq qdisc the kernel paces
    every socket with its own timer, which changed the 'large' scenario's CPU per response by
    2x on the same binary (bench/ANALYSIS.md), so a result is only comparable with its TCP setup."""
    values = []
    for name in ("ipv4/tcp_congestion_control", "core/default_qdisc"):
        try:
            with open(f"/proc/sys/net/{name}") as f:
                values.append(f.read().strip())
        except OSError:
            values.append("?")
    return "congestion control {}, default qdisc {}".format(*values)


def ratio(a, b):
    return a / b if a and b else None


def fmt_ratio(value):
    return f"{value:.2f}×" if value is not None else "–"


def fmt_num(value, digits=0):
    return f"{value:,.{digits}f}" if value is not None else "–"


def value_of(results, scenario, contender, key="rps"):
    return results.get(scenario, {}).get(contender, {}).get(key)


def unit_per_request(data, key):
    """What one request is worth in the table's unit `key` (1 for req/s; MiB for MiB/s)."""
    return data.get(key, 0) / data["rps"] if data.get("rps") else 1


def paired_rounds(data):
    """{round number: req/s} of one contender (empty when it was not measured)."""
    return dict(zip(data.get("round_numbers", []), data.get("rounds", [])))


def throughput_table(results, scenario, pipy_name, nginx_name, haproxy_name, unit="req/s",
                     key="rps", extra=()):
    entry = results.get(scenario)
    if not entry:
        return []
    if "error" in entry:
        return [f"Not measured: {entry['error']}.", ""]
    pipy = value_of(results, scenario, pipy_name, key)
    pipy_cpu = value_of(results, scenario, pipy_name, "cpu_us")
    lines = [f"| contender | {unit} (median) | rounds | errors | pipy ÷ this "
             "| pipy ÷ this by round | CPU µs / request | CPU: this ÷ pipy | RSS after |",
             "|---|---:|---|---:|---:|---|---:|---:|---:|"]
    pipy_rounds = paired_rounds(entry.get(pipy_name, {}))
    digits = 1 if key == "mib_s" else 0
    for name in (pipy_name, nginx_name, haproxy_name) + tuple(extra):
        data = entry.get(name, {})
        if "error" in data:
            lines.append(f"| {name} | – | {data['error']} | | | | | | |")
            continue
        scale = unit_per_request(data, key)
        rounds = ", ".join(fmt_num(r * scale, digits) for r in data["rounds"])
        if data.get("dropped"):
            rounds += f" ({data['dropped']} dropped)"
        cpu = data.get("cpu_us")
        by_round = "" if name == pipy_name else ", ".join(
            fmt_ratio(ratio(pipy_rounds.get(n), rps))
            for n, rps in sorted(paired_rounds(data).items()))
        lines.append(f"| {name} | {fmt_num(data.get(key), digits)} | "
                     f"{rounds} | {data['errors']} | "
                     f"{fmt_ratio(ratio(pipy, data.get(key)))} | {by_round} | "
                     f"{fmt_num(cpu, 1)} | {fmt_ratio(ratio(cpu, pipy_cpu))} | "
                     f"{fmt_mib(data.get('rss_after_kib'))} |")
    return lines + [""]


def fmt_mib(kib):
    return "–" if kib is None else f"{kib / 1024:.1f} MiB"


def client_core_ceiling(results, scenario, name, key="rps"):
    """The rate (in `key`'s unit) at which wrk and the origin alone would fill CPU 1, at what
    they spent per request with `name` in front; None when that was not measured."""
    data = results.get(scenario, {}).get(name, {})
    if "error" in data or data.get("wrk_cpu_us") is None:
        return None
    spent = data["wrk_cpu_us"] + (data.get("origin_cpu_us") or 0)
    return 1e6 / spent * unit_per_request(data, key) if spent else None


def client_core_table(results, scenario, names, unit="req/s", key="rps"):
    """What CPU 1 (wrk and the origin) spent per request with each contender in front, and the
    rate at which those two alone would fill it: a server measured near that ceiling was held
    back by the load generator's core, not by its own."""
    entry = results.get(scenario)
    if not entry or "error" in entry:
        return []
    digits = 1 if key == "mib_s" else 0
    rows = []
    for name in names:
        data = entry.get(name, {})
        if "error" in data or data.get("wrk_cpu_us") is None:
            continue
        busy = data.get("client_core_busy")
        rows.append(f"| {name} | {fmt_num(data['wrk_cpu_us'], 1)} | "
                    f"{fmt_num(data.get('origin_cpu_us'), 1)} | "
                    f"{fmt_num(data.get('wrk_sleeps'), 3)} | "
                    f"{fmt_num(data.get('wrk_preempted'), 3)} | "
                    f"{fmt_num(data.get('origin_sleeps'), 3)} | "
                    f"{f'{busy:.0%}' if busy is not None else '–'} | "
                    f"{fmt_num(client_core_ceiling(results, scenario, name, key), digits)} | "
                    f"{fmt_num(data.get(key), digits)} |")
    if not rows:
        return []
    return [f"CPU {CLIENT_CPU} (load generator and origin), medians of the rounds:", "",
            f"| in front | wrk µs / request | origin µs / request | wrk sleeps / request | "
            f"wrk preempted / request | origin sleeps / request | CPU {CLIENT_CPU} busy | "
            f"CPU {CLIENT_CPU} ceiling ({unit}) | measured ({unit}) |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|"] + rows + [""]


def cores_busy(results, scenario, name):
    """How busy both CPUs were in a contender's rounds (medians): the share of CPU 0 its
    serving process used and how busy CPU 1 was, e.g. "CPU 0: 99% (pipy), CPU 1: 54%"."""
    data = results.get(scenario, {}).get(name, {})
    parts = []
    if data.get("server_core_share") is not None:
        parts.append(f"CPU {SERVER_CPU}: {data['server_core_share']:.0%} ({name.split('-')[0]})")
    if data.get("client_core_busy") is not None:
        parts.append(f"CPU {CLIENT_CPU}: {data['client_core_busy']:.0%}")
    return ", ".join(parts)


def target_checks(results, busy_poll):
    """Issue 5's targets measured on `results`: one dict per target with its history key, the
    table's label, the bound (`target`) and how it reads (`wanted`), the number compared with
    it (`value`), whether it holds, and for ratios what CPU 1 allowed. A target whose scenario
    did not run has `value` None."""
    checks = []

    def check(key, label, target, wanted, value, at_most=False, load="", allows=None):
        holds = value is not None and (value <= target if at_most else value >= target)
        checks.append({"key": key, "label": label, "target": target, "wanted": wanted,
                       "value": value, "holds": holds, "load": load, "allows": allows})

    def ratio_check(key, label, target, scenario, pipy_name, other, unit_key="rps", load=""):
        """`other` is (scenario, contender) of the denominator."""
        theirs = value_of(results, *other, unit_key)
        value = ratio(value_of(results, scenario, pipy_name, unit_key), theirs)
        most = ratio(client_core_ceiling(results, scenario, pipy_name, unit_key), theirs)
        check(key, label, target, f"≥ {target}×", value, load=load, allows=most)

    ratio_check("hello_vs_nginx", "hello vs nginx", TARGETS["hello_vs_nginx"], "hello",
                "pipy-hello", ("hello", "nginx-hello"),
                load=cores_busy(results, "hello", "pipy-hello"))
    ratio_check("route_vs_nginx_hello", "route vs nginx hello", TARGETS["route_vs_nginx_hello"],
                "route", "pipy-route", ("hello", "nginx-hello"),
                load=cores_busy(results, "route", "pipy-route"))
    for scenario, pipy_name in (("proxy", "pipy-proxy"), ("gateway", "pipy-gateway")):
        ratio_check(f"{scenario}_vs_nginx", f"{scenario} vs nginx proxy",
                    TARGETS["proxy_vs_nginx"], scenario, pipy_name, (scenario, "nginx-proxy"),
                    load=cores_busy(results, scenario, pipy_name))
        ratio_check(f"{scenario}_vs_haproxy", f"{scenario} vs HAProxy",
                    TARGETS["proxy_vs_haproxy"], scenario, pipy_name,
                    (scenario, "haproxy-proxy"))
    ratio_check("large_vs_nginx", "large vs nginx", TARGETS["large_vs_nginx"], "large",
                "pipy-proxy", ("large", "nginx-proxy"), unit_key="mib_s",
                load=cores_busy(results, "large", "pipy-proxy"))
    idle = value_of(results, "memory", "pipy-hello", "idle_kib")
    check("idle_rss_mb", "idle worker RSS", TARGETS["idle_rss_mb"],
          f"≤ {TARGETS['idle_rss_mb']:.0f} MB", idle / 1024 if idle else None, at_most=True)
    check("per_connection_kib", "per idle keep-alive connection",
          TARGETS["per_connection_kib"], f"≤ {TARGETS['per_connection_kib']:.0f} KiB",
          value_of(results, "memory", "pipy-hello", "per_connection_kib"), at_most=True)

    def p99_of(name):
        """A latency contender's p99, None when its client got no answer at all."""
        data = results.get("latency", {}).get(name, {})
        return data.get("service_p99_us") if data.get("achieved_rate") else None

    direct = p99_of("direct")
    for key, name, label in (
            ("p99_over_direct_ms", "pipy-proxy", "p99 through the proxy at 1 000 req/s"),
            ("p99_busy_poll_over_direct_ms", "pipy-proxy-busy-poll",
             f"the same with `--busy-poll={busy_poll}`")):
        p99 = p99_of(name)
        over = (p99 - direct) / 1000 if p99 is not None and direct is not None else None
        check(key, label, TARGETS["p99_over_direct_ms"], "≤ direct p99 + 0.1 ms", over,
              at_most=True)
    return checks


def fmt_target_value(check, value):
    """A target's measured value: a ratio, MB, KiB, or milliseconds over the direct path."""
    key = check["key"]
    if key == "idle_rss_mb":
        return f"{value:.1f} MB"
    if key == "per_connection_kib":
        return f"{value:.2f} KiB"
    if key.endswith("_ms"):
        return f"+ {value:.4f} ms"
    return fmt_ratio(value)


def target_rows(settings, results):
    rows = []
    for c in target_checks(results, settings.busy_poll):
        if c["value"] is None:
            measured, status = "–", "not measured"
        else:
            measured = fmt_target_value(c, c["value"])
            if c["key"].endswith("_ms"):
                measured = "direct " + measured
            status = "holds" if c["holds"] else "**does not hold**"
        allows = fmt_ratio(c["allows"]) if c["allows"] else ""
        rows.append(f"| {c['label']} | {c['wanted']} | {measured} | {status} | "
                    f"{c['load']} | {allows} |")
    return rows


def rounds_of(results):
    """Rounds per contender in `results`: the most any contender ran (dropped rounds aside)."""
    return max((len(data.get("rounds", [])) for entry in results.values()
                if isinstance(entry, dict) for data in entry.values()
                if isinstance(data, dict)), default=0)


def history_entry(settings, machine, results):
    return history.entry(machine, results, target_checks(results, settings.busy_poll),
                         rounds_of(results))


def record_history(settings, machine, results):
    """Adds a full run to the history RESULTS.md counts across (bench/history.py)."""
    if not history.is_full_run(results, settings.rounds, settings.duration):
        log(f"not a full run (every scenario, {history.FULL_RUN_ROUNDS} rounds × "
            f"{history.FULL_RUN_SECONDS} s): not added to the history")
        return
    path = os.path.join(settings.output, history.HISTORY_NAME)
    history.record(path, history_entry(settings, machine, results))
    log(f"added to {path}")


def rebuild_history(settings):
    """history.jsonl from every committed bench/results.json (the runs before the history
    existed, and a changed check applied to all of them)."""
    def git(*args):
        return subprocess.run(["git", "-C", REPO_DIR, *args], capture_output=True, text=True,
                              check=True).stdout

    runs = []
    for commit in git("log", "--format=%H", "--", "bench/results.json").split():
        try:
            saved = json.loads(git("show", f"{commit}:bench/results.json"))
        except (subprocess.CalledProcessError, ValueError):
            continue
        results, machine = saved.get("results", {}), saved.get("machine", {})
        # The run's length is in its recorded wrk command line.
        durations = [int(m) for c in saved.get("commands", {}).values()
                     for m in re.findall(r" -d(\d+)s ", c)]
        duration = min(durations, default=0)
        if "date" in machine and history.is_full_run(results, rounds_of(results), duration):
            runs.append(history_entry(settings, machine, results))
    path = os.path.join(settings.output, history.HISTORY_NAME)
    history.save(path, runs)
    log(f"wrote {len(runs)} runs to {path}")


def write_markdown(settings, machine, results, commands, incidents, chart_note, path):
    s = settings
    lines = [
        "# Benchmark results: pipy-rs vs nginx vs HAProxy",
        "",
        "Generated by `make bench` (bench/run.sh → bench/bench.py); do not edit by hand.",
        "",
        "## Machine",
        "",
        "| | |", "|---|---|",
        f"| date | {machine['date']} |",
        f"| CPUs (`nproc`) | {machine['nproc']} |",
        f"| CPU model | {machine['cpu']} |",
        f"| kernel | {machine['kernel']} |",
        f"| TCP | {machine.get('tcp', '?')} |",
        f"| load average before → after | {machine['load_before']} → {machine['load']} |",
        f"| pipy-rs | {machine['pipy']}, commit {machine['commit']} |",
        f"| nginx | {machine['nginx']} |",
        f"| HAProxy | {machine['haproxy']} |",
        f"| wrk | {machine['wrk']} |",
        "",
        "## Method",
        "",
        f"Command: `{os.environ.get('BENCH_COMMAND', 'make bench')}` with "
        f"{s.rounds} rounds × {s.duration} s per contender, "
        f"wrk `-t1 -c{s.connections}`, scenarios {', '.join(s.scenarios)}.",
        "",
        "Every server runs one worker (pipy `PIPY_SPAWN=0`, nginx `worker_processes 1`, HAProxy "
        f"`nbthread 1`) pinned to CPU {SERVER_CPU}; the load generator and the nginx origin behind "
        f"the proxies share CPU {CLIENT_CPU}. Within a scenario all contenders run at once (idle "
        "ones cost nothing) and are measured in interleaved rounds after a 1 s warm-up; tables "
        "show the median round. Logging is off or at warn level everywhere; nginx and HAProxy keep "
        "upstream connections alive (one request per connection at a time); pipy's proxy is "
        "Pipy's tutorial 03: every request goes through one pipelined upstream session "
        "(`muxHTTP` with a constant key). "
        "Configurations: bench/conf/, bench/scripts/.",
        "",
        "*CPU µs / request* is the serving process's CPU time over a round (/proc/PID/schedstat) "
        "divided by the requests wrk completed, median of the rounds. Unlike req/s it does not "
        "fall when the host hands the CPU to someone else, so on a noisy host it is the steadier "
        "comparison; *CPU: this ÷ pipy* above 1 means the contender spent more CPU per request "
        "than pipy. The targets are stated in req/s and are checked in req/s, as the ratio of the "
        "medians. *pipy ÷ this by round* divides pipy's result in each round by this contender's "
        "in the same round (they run one after the other); their spread shows how far the "
        "host's noise moves a ratio. *RSS after* is the serving process's resident memory "
        "once its rounds are done: what a worker keeps after serving a few million requests "
        "(its upstream connections still open), where the memory scenario below measures it "
        "before any load.",
        "",
        f"Under each table, *CPU {CLIENT_CPU}* shows what the load generator (wrk's own CPU time, "
        "from `getrusage`) and the origin (its worker's schedstat) spent per request with that "
        f"contender in front, how busy CPU {CLIENT_CPU} was (/proc/stat, all processes and "
        f"interrupts), and the *ceiling*: the rate at which those two alone would fill CPU "
        f"{CLIENT_CPU}. On loopback a sender's CPU also does the receiver's TCP work, so the "
        "server's sends and their delivery count as the server's CPU and wrk's and the "
        f"origin's as CPU {CLIENT_CPU}'s. A contender measured near its ceiling with CPU "
        f"{CLIENT_CPU} fully busy was limited by the load generator's core, not by itself; a "
        "server that makes wrk or the origin work less per request raises its own ceiling. "
        f"The switch counts show how CPU {CLIENT_CPU}'s two processes take turns: *wrk sleeps* "
        "when every connection waits on the server, *wrk preempted* when the origin, woken on "
        "its core, runs first (`getrusage`'s voluntary and involuntary switches), *origin "
        "sleeps* when it has answered everything it was sent (`voluntary_ctxt_switches`). "
        "Each turn costs CPU time; a server that forwards every request at once wakes the "
        "origin more often than one that is busy enough to hold a backlog.",
        "",
    ]
    if not s.two_cpus:
        lines += ["**Warning: fewer than 2 CPUs, so server and client shared one CPU.**", ""]

    lines += ["## Targets (issue 5)", "",
              f"*Busy in pipy's rounds*: the share of CPU {SERVER_CPU} pipy's worker used and how "
              f"busy CPU {CLIENT_CPU} (wrk and the origin) was. Where CPU {CLIENT_CPU} is full, "
              "the load generator's core set the rate, not pipy (see the CPU "
              f"{CLIENT_CPU} table under each scenario).", "",
              f"*CPU {CLIENT_CPU} allows*: the highest ratio this run could show. It is pipy's "
              f"CPU {CLIENT_CPU} ceiling (the rate at which wrk and the origin alone would fill "
              f"CPU {CLIENT_CPU}, at what they spent per request with pipy in front) divided by "
              "the other contender's measured rate. A ratio target above it cannot be shown on "
              "this rig in this run however little pipy's worker spends; only a pipy that makes "
              "wrk or the origin work less per request raises it.", "",
              f"| target | wanted | measured | status | busy in pipy's rounds | "
              f"CPU {CLIENT_CPU} allows |",
              "|---|---|---|---|---|---|"] + target_rows(s, results) + [""]
    runs = history.load(os.path.join(s.output, history.HISTORY_NAME))
    checks = target_checks(results, s.busy_poll)
    across = history.summary_lines(runs, machine.get("cpu"), checks, fmt_target_value)
    if across:
        # Drawn here, with the section that shows it: both read the same runs.
        chart = history.write_chart(runs, machine.get("cpu"), checks,
                                    os.path.join(s.output, "history.png"))
        lines += across + ([chart, ""] if chart else [])

    sections = (
        ("hello", "hello: static response", "pipy-hello", "nginx-hello", "haproxy-hello",
         ("pipy-hello-busy-poll-auto",)),
        ("churn", "churn: hello with a new connection per request (`Connection: close`; no "
         "target)", "pipy-hello", "nginx-hello", "haproxy-hello", ()),
        ("route", "route: a script callback per request (URLRouter, reply built from msg.head)",
         "pipy-route", "nginx-route", "haproxy-route", ("pipy-route-engine",)),
        ("proxy", "proxy: 11-byte responses from the nginx origin", "pipy-proxy", "nginx-proxy",
         "haproxy-proxy", ("pipy-proxy-busy-poll-auto",)),
        ("gateway", "gateway: examples/gateway (router + balancer + fallback) vs plain proxies",
         "pipy-gateway", "nginx-proxy", "haproxy-proxy", ()),
    )
    for scenario, title, pipy_name, nginx_name, haproxy_name, extra in sections:
        if scenario in results:
            lines += [f"## {title}", ""]
            # Extra contenders appear only in the runs that measured them.
            extra = tuple(n for n in extra if n in results[scenario])
            if "pipy-route-engine" in extra:
                lines += ["pipy compiles this callback and evaluates it without the JavaScript "
                          "engine (docs/performance.md); *pipy-route-engine* is the same script "
                          "run with `--no-native-callbacks`, the callback called in the engine "
                          "on every request.", ""]
            if any(n.endswith("-busy-poll-auto") for n in extra):
                lines += [f"*{pipy_name}-busy-poll-auto* is the same script with "
                          "`--busy-poll=auto`: once out of work its worker polls a few "
                          "microseconds longer before it sleeps, learning from the gaps between "
                          f"events how long pays (docs/performance.md); {pipy_name} sleeps at "
                          "once, as nginx does.", ""]
            lines += throughput_table(results, scenario, pipy_name, nginx_name, haproxy_name,
                                      extra=extra)
            lines += client_core_table(results, scenario,
                                       (pipy_name, nginx_name, haproxy_name) + extra)
        if scenario == "route":
            nginx_hello = value_of(results, "hello", "nginx-hello")
            pipy_route = value_of(results, "route", "pipy-route")
            if nginx_hello and pipy_route:
                lines += [f"pipy route ÷ nginx hello: {fmt_ratio(ratio(pipy_route, nginx_hello))}",
                          ""]
            nginx_hello_cpu = value_of(results, "hello", "nginx-hello", "cpu_us")
            pipy_route_cpu = value_of(results, "route", "pipy-route", "cpu_us")
            if nginx_hello_cpu and pipy_route_cpu:
                lines += ["CPU per request, nginx hello ÷ pipy route: "
                          f"{fmt_ratio(ratio(nginx_hello_cpu, pipy_route_cpu))}", ""]
    if "large" in results:
        lines += ["## large: 1 MiB responses through the proxy", ""]
        lines += throughput_table(results, "large", "pipy-proxy", "nginx-proxy", "haproxy-proxy",
                                  unit="MiB/s", key="mib_s")
        lines += client_core_table(results, "large", ("pipy-proxy", "nginx-proxy",
                                                      "haproxy-proxy"), unit="MiB/s", key="mib_s")

    memory = results.get("memory")
    if memory:
        lines += ["## memory: worker RSS", ""]
        if "error" in memory:
            lines += [f"Not measured: {memory['error']}.", ""]
        else:
            lines += [f"RSS of the worker process (hello configuration) when idle, and with "
                      f"{s.idle:,} idle keep-alive connections that each made one request.", "",
                      "| contender | idle RSS | RSS with connections | connections held | "
                      "per connection |", "|---|---:|---:|---:|---:|"]
            for name, data in memory.items():
                if "error" in data:
                    lines.append(f"| {name} | – | – | – | {data['error']} |")
                    continue
                lines.append(f"| {name} | {fmt_mib(data['idle_kib'])} | "
                             f"{fmt_mib(data['loaded_kib'])} | {data['held']:,} | "
                             f"{data['per_connection_kib']:.2f} KiB |")
            lines.append("")

    latency = results.get("latency")
    if latency:
        lines += [f"## latency: {s.rate:,} req/s offered over 4 connections", ""]
        if "error" in latency:
            lines += [f"Not measured: {latency['error']}.", ""]
        else:
            lines += ["Service time = from writing the request to the last byte of the response; "
                      "scheduled p99 counts from when the request was due, so it includes any "
                      "wait behind a stall. *pipy-proxy-busy-poll* is pipy-proxy with "
                      f"`--busy-poll={s.busy_poll}`: its worker keeps polling for that long after "
                      "each event instead of sleeping, so its core is awake when the origin's "
                      "response arrives (docs/performance.md).", "",
                      "| target | p50 | p99 | scheduled p99 | achieved req/s | errors |",
                      "|---|---:|---:|---:|---:|---:|"]
            for name, data in latency.items():
                if "error" in data:
                    lines.append(f"| {name} | – | – | – | – | {data['error']} |")
                    continue
                lines.append(f"| {name} | {data['service_p50_us']:.0f} µs | "
                             f"{data['service_p99_us']:.0f} µs | "
                             f"{data['scheduled_p99_us']:.0f} µs | "
                             f"{data['achieved_rate']:.0f} | {data['errors']} |")
            lines.append("")

    lines += ["## Incidents", ""]
    lines += [f"- {incident}" for incident in incidents] or ["None."]
    lines += [""]

    lines += ["## Commands", "", "PORT is the contender's port; $RUN is the run's temporary "
              "directory, holding the configurations generated from bench/conf/.", "", "```"]
    lines += [f"{name}: {command}" for name, command in commands.items()]
    lines += ["```", "", "## Chart", ""]
    lines += [chart_note, ""]
    with open(path, "w") as f:
        f.write("\n".join(lines))


def write_chart(results, path):
    """Bar charts per scenario; returns a sentence for RESULTS.md."""
    plt = history.pyplot()
    if plt is None:
        return "No chart: matplotlib is not installed (bench/run.sh could not install it)."

    panels = []
    for scenario, key, unit in (("hello", "rps", "req/s"), ("churn", "rps", "conn/s"),
                                ("route", "rps", "req/s"),
                                ("proxy", "rps", "req/s"), ("gateway", "rps", "req/s"),
                                ("large", "mib_s", "MiB/s")):
        entry = results.get(scenario, {})
        bars = [(name, data[key]) for name, data in entry.items()
                if isinstance(data, dict) and data.get(key)]
        if bars:
            panels.append((f"{scenario} ({unit})", bars))
    memory = results.get("memory", {})
    bars = [(name, data["per_connection_kib"]) for name, data in memory.items()
            if isinstance(data, dict) and "per_connection_kib" in data]
    if bars:
        panels.append(("KiB per idle connection", bars))
    bars = [(name, data["idle_kib"] / 1024) for name, data in memory.items()
            if isinstance(data, dict) and "idle_kib" in data]
    if bars:
        panels.append(("idle worker RSS (MiB)", bars))
    latency = results.get("latency", {})
    bars = [(name, data["service_p99_us"]) for name, data in latency.items()
            if isinstance(data, dict) and "service_p99_us" in data]
    if bars:
        panels.append(("p99 latency at fixed rate (µs)", bars))
    if not panels:
        return "No chart: nothing was measured."

    columns = min(4, len(panels))
    rows_count = (len(panels) + columns - 1) // columns
    figure, axes = plt.subplots(rows_count, columns, figsize=(4.2 * columns, 3.6 * rows_count),
                                squeeze=False)
    colours = {"pipy": "#2e7d32", "nginx": "#1565c0", "haproxy": "#ef6c00", "direct": "#757575"}
    for axis, (title, bars) in zip(axes.flat, panels):
        names = [name for name, _ in bars]
        values = [value for _, value in bars]
        axis.bar(range(len(bars)), values,
                 color=[colours.get(n.split("-")[0], "#999999") for n in names])
        axis.set_xticks(range(len(bars)))
        axis.set_xticklabels([n.replace("-", "\n", 1) for n in names], fontsize=8)
        axis.set_title(title, fontsize=10)
        axis.tick_params(axis="y", labelsize=8)
    for axis in list(axes.flat)[len(panels):]:
        axis.axis("off")
    figure.suptitle("pipy-rs vs nginx vs HAProxy (one worker each, medians)", fontsize=11)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return "![results](results.png)"


# ----------------------------------------------------------------------------------------------


def raise_fd_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 65536 if hard == resource.RLIM_INFINITY else hard
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def report_only(settings):
    with open(os.path.join(settings.output, "results.json")) as f:
        saved = json.load(f)
    chart_note = write_chart(saved["results"], os.path.join(settings.output, "results.png"))
    markdown = os.path.join(settings.output, "RESULTS.md")
    write_markdown(settings, saved["machine"], saved["results"], saved["commands"],
                   saved["incidents"], chart_note, markdown)
    log(f"wrote {markdown} from results.json")


def main():
    settings = Settings()
    if os.environ.get("BENCH_REPORT_ONLY") == "1":
        report_only(settings)
        return
    if os.environ.get("BENCH_HISTORY_REBUILD") == "1":
        rebuild_history(settings)
        return
    if not settings.two_cpus:
        global CLIENT_CPU
        CLIENT_CPU = SERVER_CPU
        log("warning: only one CPU; server and client will share it")
    raise_fd_limit()
    run_dir = tempfile.mkdtemp(prefix="pipy-bench.")
    # nginx workers run as an unprivileged user when started by root: they must reach www/.
    os.chmod(run_dir, 0o755)
    if os.environ.get("BENCH_RUN_DIR_FILE"):
        with open(os.environ["BENCH_RUN_DIR_FILE"], "w") as f:
            f.write(run_dir)
    bench = Bench(settings, run_dir)
    load_before = load_average()

    def on_signal(signum, _frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    try:
        log(f"scenarios {settings.scenarios}, {settings.rounds} rounds × {settings.duration}s, "
            f"ports {bench.ports}, run directory {run_dir}")
        results = bench.run()
    finally:
        bench.processes.stop_all()

    os.makedirs(settings.output, exist_ok=True)
    machine = machine_info(settings)
    machine["load_before"] = load_before
    with open(os.path.join(settings.output, "results.json"), "w") as f:
        json.dump({"machine": machine, "results": results, "commands": bench.commands,
                   "incidents": bench.incidents}, f, indent=2)
    record_history(settings, machine, results)
    chart_note = write_chart(results, os.path.join(settings.output, "results.png"))
    markdown = os.path.join(settings.output, "RESULTS.md")
    write_markdown(settings, machine, results, bench.commands, bench.incidents, chart_note,
                   markdown)
    shutil.rmtree(run_dir, ignore_errors=True)
    log(f"wrote {markdown}")
    with open(markdown) as f:
        print(f.read())


if __name__ == "__main__":
    main()
