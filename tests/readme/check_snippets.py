#!/usr/bin/env python3
"""Compiles every C++ snippet of README.md, so the README cannot show code that does not build.

A ```cpp block is compiled as it stands (a complete translation unit). A block whose fence reads
```cpp fragment=NAME is a piece of a larger program: it is compiled as the body of a function,
after tests/readme/NAME.hpp (the includes and declarations it relies on). A ```cpp cuda block
needs nvcc and is skipped here; a ```cpp mpi block is compiled only with --mpi (the build found
MPI and passes its include directories). Usage:
  check_snippets.py README.md --compiler g++ -I include -I /usr/include/eigen3 [-D NAME ...] [--mpi]
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile


def blocks(text):
    # A fence may be indented (a block inside a list item); its lines lose that indentation.
    fence = re.compile(r"^( *)```cpp([^\n]*)\n(.*?)^\1```", re.S | re.M)
    for m in fence.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        indent = len(m.group(1))
        code = "\n".join(l[indent:] if l[:indent].strip() == "" else l for l in m.group(3).split("\n"))
        yield line, m.group(2).split(), code


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("readme")
    ap.add_argument("--compiler", required=True)
    ap.add_argument("-I", dest="includes", action="append", default=[])
    ap.add_argument("-D", dest="defines", action="append", default=[])
    ap.add_argument("--mpi", action="store_true", help="compile the snippets marked mpi too")
    args = ap.parse_args()
    here = os.path.dirname(os.path.abspath(__file__))
    text = open(args.readme, encoding="utf-8").read()
    compiled, skipped, failed = 0, 0, []
    with tempfile.TemporaryDirectory() as work:
        for n, (line, info, code) in enumerate(blocks(text), 1):
            if "cuda" in info:
                print(f"README.md:{line}: CUDA snippet, skipped (needs nvcc)")
                skipped += 1
                continue
            if "mpi" in info and not args.mpi:
                print(f"README.md:{line}: MPI snippet, skipped (the build found no MPI)")
                skipped += 1
                continue
            fragment = next((i.split("=", 1)[1] for i in info if i.startswith("fragment=")), None)
            if fragment:
                prelude = os.path.join(here, fragment + ".hpp")
                if not os.path.exists(prelude):
                    failed.append(f"README.md:{line}: no prelude tests/readme/{fragment}.hpp")
                    continue
                source = f'#include "{prelude}"\nvoid readme_snippet_{n}() {{\n#line {line + 1} "README.md"\n{code}\n}}\nint main() {{}}\n'
            else:
                source = f'#line {line + 1} "README.md"\n{code}'
            path = os.path.join(work, f"snippet_{n}.cpp")
            with open(path, "w", encoding="utf-8") as f:
                f.write(source)
            cmd = [args.compiler, "-std=c++20", "-fsyntax-only", "-fopenmp"] + [f"-I{i}" for i in args.includes] + \
                  [f"-D{d}" for d in args.defines] + [path]
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode != 0:
                failed.append(f"README.md:{line}: the snippet does not compile:\n{r.stderr[:4000]}")
            else:
                compiled += 1
                print(f"README.md:{line}: compiles" + (f" (fragment of {fragment})" if fragment else ""))
    for f in failed:
        print(f, file=sys.stderr)
    print(f"{compiled} passed, {len(failed)} failed, {skipped} skipped")
    return 1 if failed or compiled == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
