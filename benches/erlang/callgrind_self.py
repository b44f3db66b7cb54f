"""Self cost per function in a callgrind dump, per call of the measured loop.

    python3 benches/erlang/callgrind_self.py DUMP [CALLS [TOP]]

For the dumps `write_instructions.sh` keeps (KEEP_CALLGRIND=1; CALLS = 18000, its 9 rounds of
2000 writes). `callgrind_annotate` shows nonsense for the BEAM's JIT code (its cycles of
unnamed addresses count the whole run many times over); this sums only each function's own
cost lines, skipping the inclusive cost lines of its calls.
"""

import collections
import re
import sys


def self_costs(path):
    """Maps function name -> its own instruction count in the dump at `path`."""
    names = {}

    def name(kind, text):
        # Callgrind's name compression: "(N) name" defines N, "(N)" refers to it.
        match = re.match(r"\((\d+)\)(?: (.*))?", text)
        if not match:
            return text
        key = (kind, match.group(1))
        if match.group(2) is not None:
            names[key] = match.group(2)
        return names.get(key, text)

    costs = collections.Counter()
    function = None
    skip_next = False
    with open(path, errors="replace") as dump:
        for line in dump:
            line = line.rstrip("\n")
            if line.startswith("fn="):
                function = name("fn", line[3:])
            elif line.startswith("cfn="):
                name("fn", line[4:])
            elif line.startswith(("cfi=", "cfl=", "cob=", "ob=", "fl=", "fi=", "fe=")):
                continue
            elif line.startswith("calls="):
                skip_next = True
            elif line and (line[0].isdigit() or line[0] in "+-*"):
                if skip_next:
                    skip_next = False
                    continue
                fields = line.split()
                if len(fields) >= 2 and function:
                    costs[function] += int(fields[1])
    return costs


def main():
    costs = self_costs(sys.argv[1])
    calls = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    top = int(sys.argv[3]) if len(sys.argv) > 3 else 30
    print(f"total {sum(costs.values()) / calls:.1f} per call")
    for function, cost in costs.most_common(top):
        print(f"{cost / calls:8.1f}  {function[:150]}")


if __name__ == "__main__":
    main()
