"""What the report scripts (bench_report.py, soak_report.py) say about the machine and the run."""
import platform
import subprocess


def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def mem_total():
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                return f"{int(line.split()[1]) / 1024 / 1024:.0f} GiB"
    except OSError:
        pass
    return "unknown"


def git_rev(mark_dirty=False):
    """The commit checked out; with mark_dirty, says so when tracked files have changed."""
    try:
        rev = subprocess.check_output(["git", "rev-parse", "--short", "HEAD"], text=True).strip()
        if mark_dirty:
            dirty = subprocess.check_output(
                ["git", "status", "--porcelain", "--untracked-files=no"], text=True
            ).strip()
            rev += " (with uncommitted changes)" if dirty else ""
        return rev
    except Exception:
        return "unknown"


def k(x):
    return f"{x / 1000:,.1f}k" if x >= 1000 else f"{x:,.0f}"
