#!/usr/bin/env python3
"""Independent RFC 9162 (Certificate Transparency v2) Merkle proof checker.

Written from RFC 9162 section 2.1 alone, deliberately independently of the
Rust implementation it checks, using only the Python 3.11 standard library.
It implements MTH (2.1.1), PATH (2.1.3.1), PROOF/SUBPROOF (2.1.4.1) by their
recursive definitions and the verification algorithms of 2.1.3.2 and 2.1.4.2
literally (bit shifting), not by recomputing from the data.

Leaf input d_i is the 32 raw bytes of record i's hash, so the leaf hash is
SHA-256(0x00 || bytes.fromhex(record_hash)); leaf index i = ledger position i+1.

Usage: verify_proofs.py INPUT.json | verify_proofs.py --self-test
INPUT.json (all hashes lowercase hex):
  {"record_hashes": ["<hex>", ...],                      # d_0 .. d_{N-1}
   "digests": [{"tree_size": n, "root_hash": "<hex>"}, ...],
   "inclusion": [{"leaf_index": i, "tree_size": n, "record_hash": "<hex>",
                  "audit_path": ["<hex>", ...], "root_hash": "<hex>"}, ...],
   "consistency": [{"first": m, "second": n, "first_root": "<hex>",
                    "second_root": "<hex>", "proof": ["<hex>", ...]}, ...]}
Prints one JSON line {"digests", "inclusion", "consistency" (entries that
passed every check), "tampered_rejected" (tampered variants correctly
rejected), "failures": [...]} and exits 0 iff there are no failures.
"""
import functools, hashlib, json, random, sys


def sha256(b: bytes) -> bytes:
    return hashlib.sha256(b).digest()


def leaf_hash(d: bytes) -> bytes:  # SHA-256(0x00 || d)
    return sha256(b"\x00" + d)


def node_hash(left: bytes, right: bytes) -> bytes:  # SHA-256(0x01 || l || r)
    return sha256(b"\x01" + left + right)


def split_point(n: int) -> int:
    """Largest power of two strictly smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


class Tree:
    """The list of leaf inputs D; subtree hashes are cached on (start, end)."""

    def __init__(self, leaves):
        self.leaves = leaves
        self.mth = functools.lru_cache(maxsize=None)(self._mth)

    def _mth(self, start: int, end: int) -> bytes:  # MTH(D[start:end])
        n = end - start
        if n <= 1:
            return leaf_hash(self.leaves[start]) if n else sha256(b"")
        k = split_point(n)
        return node_hash(self.mth(start, start + k), self.mth(start + k, end))

    def path(self, m: int, start: int, end: int) -> list:  # PATH(m, D[start:end])
        n = end - start
        if n == 1:
            return []
        k = split_point(n)
        if m < k:
            return self.path(m, start, start + k) + [self.mth(start + k, end)]
        return self.path(m - k, start + k, end) + [self.mth(start, start + k)]

    def subproof(self, m: int, start: int, end: int, b: bool) -> list:
        n = end - start  # SUBPROOF(m, D[start:end], b)
        if m == n:
            return [] if b else [self.mth(start, end)]
        k = split_point(n)
        if m <= k:
            return self.subproof(m, start, start + k, b) + [self.mth(start + k, end)]
        return self.subproof(m - k, start + k, end, False) + [self.mth(start, start + k)]

    def proof(self, m: int, n: int) -> list:  # PROOF(m, D[n])
        return self.subproof(m, 0, n, True)


def verify_inclusion(leaf_index, tree_size, leaf, path, root) -> bool:
    """RFC 9162 section 2.1.3.2, step by step."""
    if leaf_index < 0 or leaf_index >= tree_size:
        return False
    fn, sn, r = leaf_index, tree_size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while fn != 0 and not fn & 1:  # until LSB(fn) set or fn == 0
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root


def verify_consistency(first, second, first_hash, second_hash, path) -> bool:
    """RFC 9162 section 2.1.4.2, step by step (first == second: empty proof)."""
    if first < 1 or first > second:
        return False
    if first == second:
        return not path and first_hash == second_hash
    if not path:
        return False
    if first & (first - 1) == 0:  # exact power of two: prepend first_hash
        path = [first_hash] + list(path)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while fn != 0 and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return fr == first_hash and sr == second_hash and sn == 0


def flip(h: bytes, bit: int = 0) -> bytes:
    return h[:bit // 8] + bytes([h[bit // 8] ^ (1 << bit % 8)]) + h[bit // 8 + 1:]


def inclusion_tampers(i, n, leaf, path, root):
    """Yield (description, accepted?) for every tampered inclusion variant."""
    for j in range(len(path)):
        yield f"path[{j}]", verify_inclusion(i, n, leaf, path[:j] + [flip(path[j])] + path[j + 1:], root)
    yield "root", verify_inclusion(i, n, leaf, path, flip(root))
    yield "leaf", verify_inclusion(i, n, flip(leaf), path, root)
    if n > 1:
        yield "leaf_index", verify_inclusion((i + 1) % n, n, leaf, path, root)


def consistency_tampers(m, n, h1, h2, proof):
    for j in range(len(proof)):
        yield f"proof[{j}]", verify_consistency(m, n, h1, h2, proof[:j] + [flip(proof[j])] + proof[j + 1:])
    yield "first_root", verify_consistency(m, n, flip(h1), h2, proof)
    yield "second_root", verify_consistency(m, n, h1, flip(h2), proof)


def check_document(doc) -> dict:
    out = {"digests": 0, "inclusion": 0, "consistency": 0, "tampered_rejected": 0, "failures": []}
    fail = out["failures"].append
    hexes = doc.get("record_hashes", [])
    tree = Tree([bytes.fromhex(h) for h in hexes])
    N = len(hexes)
    H = bytes.fromhex

    def tamper(label, variants):
        for what, accepted in variants:
            if accepted:
                fail(f"{label}: tampered {what} was ACCEPTED")
            else:
                out["tampered_rejected"] += 1

    for idx, d in enumerate(doc.get("digests", [])):
        try:
            n = d["tree_size"]
            ok = 0 <= n <= N and H(d["root_hash"]) == tree.mth(0, n)
            out["digests"] += ok
            if not ok:
                fail(f"digest[{idx}] (size {n}): tree_size > {N} or root_hash != MTH(D[n])")
        except (KeyError, TypeError, ValueError) as e:
            fail(f"digest[{idx}]: malformed entry ({e!r})")

    for idx, e in enumerate(doc.get("inclusion", [])):
        try:
            i, n = e["leaf_index"], e["tree_size"]
            label = f"inclusion[{idx}] (leaf {i}, size {n})"
            path, root = [H(p) for p in e["audit_path"]], H(e["root_hash"])
            if not (0 <= i < n <= N):
                fail(f"{label}: need 0 <= leaf_index < tree_size <= {N}")
                continue
            leaf = leaf_hash(H(e["record_hash"]))
            ok = verify_inclusion(i, n, leaf, path, root)
            errs = [msg for bad, msg in [
                (e["record_hash"] != hexes[i], "record_hash != record_hashes[leaf_index]"),
                (path != tree.path(i, 0, n), "audit_path != PATH(m, D[n])"),
                (not ok, "RFC 9162 2.1.3.2 verification failed"),
                (root != tree.mth(0, n), "root_hash != MTH(D[n])")] if bad]
            out["failures"] += [f"{label}: {msg}" for msg in errs]
            out["inclusion"] += not errs
            if ok and path:
                tamper(label, inclusion_tampers(i, n, leaf, path, root))
        except (KeyError, TypeError, ValueError) as ex:
            fail(f"inclusion[{idx}]: malformed entry ({ex!r})")

    for idx, c in enumerate(doc.get("consistency", [])):
        try:
            m, n = c["first"], c["second"]
            label = f"consistency[{idx}] ({m} -> {n})"
            proof, h1, h2 = [H(p) for p in c["proof"]], H(c["first_root"]), H(c["second_root"])
            if not (1 <= m <= n <= N):
                fail(f"{label}: need 1 <= first <= second <= {N}")
                continue
            ok = verify_consistency(m, n, h1, h2, proof)
            errs = [msg for bad, msg in [
                (proof != tree.proof(m, n), "proof != PROOF(m, D[n])"),
                (not ok, "RFC 9162 2.1.4.2 verification failed"),
                (h1 != tree.mth(0, m), "first_root != MTH(D[m])"),
                (h2 != tree.mth(0, n), "second_root != MTH(D[n])")] if bad]
            out["failures"] += [f"{label}: {msg}" for msg in errs]
            out["consistency"] += not errs
            if ok and proof:
                tamper(label, consistency_tampers(m, n, h1, h2, proof))
        except (KeyError, TypeError, ValueError) as ex:
            fail(f"consistency[{idx}]: malformed entry ({ex!r})")
    return out


def self_test() -> int:
    rng = random.Random(9162)
    # Known answers: empty tree, and the 8-leaf CT test vector (RFC 6962 tests).
    assert Tree([]).mth(0, 0).hex().startswith("e3b0c44298fc1c149afbf4c8996fb924")
    kat = Tree([bytes.fromhex(x) for x in ["", "00", "10", "2021", "3031", "40414243",
                                          "5051525354555657", "606162636465666768696a6b6c6d6e6f"]])
    assert kat.mth(0, 8).hex() == "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
    assert kat.mth(0, 3).hex() == "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77"
    proofs = tampered = 0
    for n in range(1, 71):
        tree = Tree([rng.randbytes(32) for _ in range(n)])
        root = tree.mth(0, n)
        for i in range(n):
            path, leaf = tree.path(i, 0, n), leaf_hash(tree.leaves[i])
            assert verify_inclusion(i, n, leaf, path, root), (n, i)
            assert not verify_inclusion(i, n, leaf, path + [root], root), (n, i)
            for what, accepted in inclusion_tampers(i, n, leaf, path, root):
                assert not accepted, (n, i, what)
                tampered += 1
            proofs += 1
        for m in range(1, n + 1):
            proof, h1 = tree.proof(m, n), tree.mth(0, m)
            assert verify_consistency(m, n, h1, root, proof), (m, n)
            assert (m == n) == (not proof), (m, n)
            for what, accepted in consistency_tampers(m, n, h1, root, proof):
                assert not accepted, (m, n, what)
                tampered += 1
            proofs += 1
    # End-to-end through check_document: a correct document, then a corrupt one.
    tree = Tree([rng.randbytes(32) for _ in range(37)])
    doc = {"record_hashes": [x.hex() for x in tree.leaves],
           "digests": [{"tree_size": n, "root_hash": tree.mth(0, n).hex()} for n in range(38)],
           "inclusion": [{"leaf_index": i, "tree_size": n, "record_hash": tree.leaves[i].hex(),
                          "audit_path": [p.hex() for p in tree.path(i, 0, n)],
                          "root_hash": tree.mth(0, n).hex()} for n in (1, 5, 37) for i in range(n)],
           "consistency": [{"first": m, "second": n, "first_root": tree.mth(0, m).hex(),
                            "second_root": tree.mth(0, n).hex(),
                            "proof": [p.hex() for p in tree.proof(m, n)]}
                           for n in (1, 8, 37) for m in range(1, n + 1)]}
    good = check_document(doc)
    assert not good["failures"] and good["inclusion"] == 43 and good["consistency"] == 46, good
    doc["inclusion"][10]["audit_path"][0] = "00" * 32
    doc["consistency"][20]["proof"].reverse()
    doc["digests"][3]["root_hash"] = "11" * 32
    assert len(check_document(doc)["failures"]) >= 3
    print(json.dumps({"self_test": "ok", "proofs_verified": proofs, "tampered_rejected": tampered}))
    return 0


def main(argv) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    if argv[1] == "--self-test":
        return self_test()
    with open(argv[1], encoding="utf-8") as f:
        out = check_document(json.load(f))
    print(json.dumps(out))
    return 0 if not out["failures"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
