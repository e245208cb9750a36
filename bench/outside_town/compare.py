#!/usr/bin/env python3
"""Compare the person and thread partitions of two scored runs of the same town: python3 compare.py A.json B.json"""

import json
import sys

a, b = (json.load(open(x)) for x in sys.argv[1:3])
for key in ("partition", "thread_partition"):
    A = {tuple(x) for x in a[key]}
    B = {tuple(x) for x in b[key]}
    print(f"{key}: {len(A)} vs {len(B)} clusters; identical={A == B}")
    for x in sorted(A - B):
        print("   only in A:", x)
    for x in sorted(B - A):
        print("   only in B:", x)
