"""Copy the first N bench files without compression, as the real ORNL files are stored.

The real data set holds about 590 GB for 187,000 stacks: 3.15 MB a stack, exactly the
size of an uncompressed (3, 512, 512) float32 array. The simulator writes gzip by
default (8x smaller), which makes HDF5 reading the bottleneck of extraction; this copy
lets ``bench_extract.py --data bench/data/raw-uncompressed`` measure extraction on files
stored like the real ones. Ten files (4.1 GB) stay in the page cache of a 24 GB machine
between the bench's passes; 24 files (11 GB) did not (the kernel reclaims cold pages),
which turned the bench's page-cached rows into disk reads.

Usage: python bench/uncompressed_copy.py [--src bench/data/raw] [--dst bench/data/raw-uncompressed] [--files 10]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from cbedfeat.data import ORNLWriter, find_h5_files, iter_file

HERE = Path(__file__).resolve().parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--src", type=Path, default=HERE / "data" / "raw")
    ap.add_argument("--dst", type=Path, default=HERE / "data" / "raw-uncompressed")
    ap.add_argument("--files", type=int, default=10)
    args = ap.parse_args()
    for path in find_h5_files([args.src])[: args.files]:
        target = args.dst / path.name
        if target.exists():
            continue
        with ORNLWriter(target, compression=None) as writer:
            for sample in iter_file(path, strict=True):
                writer.write(sample.stack, sample.meta)
        print(target)


if __name__ == "__main__":
    main()
