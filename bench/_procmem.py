"""Process memory readings from /proc (Linux), with no third-party imports so probes can load it first."""
from __future__ import annotations


def proc_status() -> dict[str, int]:
    """VmHWM (resident high-water mark) and VmRSS of this process, in bytes ({} where /proc is unavailable)."""
    out = {}
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(("VmHWM:", "VmRSS:")):
                    key, value = line.split(":", 1)
                    out[key] = int(value.split()[0]) * 1024
    except OSError:
        pass
    return out


def reset_hwm() -> bool:
    """Reset VmHWM to the current resident size (writes 5 to /proc/self/clear_refs); False where unsupported."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False
