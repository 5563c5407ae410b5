"""Line and branch coverage of ext/ over a coverage build's test run.

usage: python3 tools/coverage.py BUILD_DIR

The loadable objects (BUILD_DIR/so, used by the shell and Python tests) and
the static ones (BUILD_DIR/a, used by the C tests) are counted together: a
line or branch counts as covered when any test run reached it. Prints a line
per file and ends with "lines: N%, branches: M%".
"""
import glob
import os
import re
import subprocess
import sys


def gcov_counts(src, objdir, tmp):
    """{line: executed?}, {(line, i): taken?} for one source in one object dir."""
    base = os.path.splitext(os.path.basename(src))[0]
    if not os.path.exists(os.path.join(objdir, base + ".gcda")):
        return {}, {}
    out = subprocess.run(["gcov", "-t", "-b", "-c", "-o", objdir, src], cwd=tmp,
                         capture_output=True, text=True, errors="replace", check=False).stdout
    lines, branches = {}, {}
    current, index = None, 0
    if True:
        for row in out.splitlines():
            m = re.match(r"\s*([^:]+):\s*(\d+):", row)
            if m and not row.startswith(("branch", "call", "function")):
                count, number = m.group(1).strip(), int(m.group(2))
                if number == 0:
                    continue
                current, index = number, 0
                if count != "-":
                    lines[number] = count not in ("#####", "=====")
                continue
            b = re.match(r"branch\s+\d+\s+(taken (\d+)|never executed)", row)
            if b and current is not None:
                branches[(current, index)] = b.group(2) is not None and int(b.group(2)) > 0
                index += 1
    return lines, branches


def main():
    build = sys.argv[1]
    total_l = hit_l = total_b = hit_b = 0
    tmp = os.getcwd()  # gcov finds the sources by the paths the build used
    if True:
        for src in sorted(glob.glob("ext/*.c")):
            lines, branches = {}, {}
            for objdir in (os.path.join(build, "so"), os.path.join(build, "a")):
                l, b = gcov_counts(src, objdir, tmp)
                for k, v in l.items():
                    lines[k] = lines.get(k, False) or v
                for k, v in b.items():
                    branches[k] = branches.get(k, False) or v
            nl, hl = len(lines), sum(lines.values())
            nb, hb = len(branches), sum(branches.values())
            total_l, hit_l, total_b, hit_b = total_l + nl, hit_l + hl, total_b + nb, hit_b + hb
            print(f"{src:24} lines {100.0 * hl / max(nl, 1):5.1f}% of {nl:5}   "
                  f"branches {100.0 * hb / max(nb, 1):5.1f}% of {nb:5}")
    print(f"lines: {100.0 * hit_l / max(total_l, 1):.1f}%, branches: {100.0 * hit_b / max(total_b, 1):.1f}%")


if __name__ == "__main__":
    main()
