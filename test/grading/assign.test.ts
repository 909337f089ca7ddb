import { describe, expect, it } from "vitest";
import { mkdtemp, readFile } from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { assign, releaseNotebook, replaceRegions } from "../../src/grading/assign.js";
import {
  MetadataError,
  computeChecksum,
  metadataProblems,
  pythonFloatRepr,
} from "../../src/grading/metadata.js";
import { readNotebook, sourceText } from "../../src/grading/notebook.js";
import { makeCell, makeNotebook } from "./helpers.js";

const SOURCE = path.resolve("notebooks/assignments/conv-layers/conv-layers.ipynb");

describe("nbgrader checksums", () => {
  // Reference strings from Python 3.11's repr(float(x)).
  it.each([
    [2, "2.0"],
    [0.5, "0.5"],
    [1e-5, "1e-05"],
    [0.0001, "0.0001"],
    [1e16, "1e+16"],
    [1e22, "1e+22"],
    [12345678901234568, "1.2345678901234568e+16"],
    [123.456, "123.456"],
    [0.1 + 0.2, "0.30000000000000004"],
    [1.5e-7, "1.5e-07"],
    [100, "100.0"],
    [0, "0.0"],
  ])("prints %s as Python does: %s", (x, expected) => {
    expect(pythonFloatRepr(x)).toBe(expected);
  });

  // Reference digests: Python's hashlib.md5 over nbgrader's compute_checksum fields (source,
  // cell type, str(is_grade), str(is_solution), str(is_locked), grade_id, str(float(points))).
  it("matches nbgrader for a grade cell", () => {
    const c = makeCell({ id: "test_add", grade: true, points: 2, source: "assert add(1, 2) == 3" });
    expect(computeChecksum(c)).toBe("b320f3bace5817f5f7c5e1cb440013c9");
  });
  it("matches nbgrader for a solution cell", () => {
    const c = makeCell({
      id: "add",
      solution: true,
      source: '// YOUR CODE HERE\nthrow new Error("not implemented");',
    });
    expect(computeChecksum(c)).toBe("6ad11b10564d31203bbe74ef44b72f05");
  });
  it("matches nbgrader for a manually graded markdown answer and a locked cell", () => {
    const essay = makeCell({
      type: "markdown",
      id: "essay",
      grade: true,
      solution: true,
      points: 1.5,
      source: "YOUR ANSWER HERE",
    });
    expect(computeChecksum(essay)).toBe("14a4a06654bb3dcf38d72c6471cb0ab7");
    const intro = makeCell({ type: "markdown", id: "intro", locked: true, source: "Read me." });
    expect(computeChecksum(intro)).toBe("928f8df5e76038ae19d565cefea4a7a4");
  });
});

describe("metadata validation", () => {
  it("accepts the assignment source", async () => {
    expect(metadataProblems(await readNotebook(SOURCE))).toEqual([]);
  });

  it("names the cell of each problem", () => {
    const nb = makeNotebook([
      { id: "a", solution: true, source: "x" },
      { id: "a", grade: true, points: 1, source: "test a" },
      { id: "b", grade: true, points: -1, source: "test b" },
      { id: "c", grade: true, source: "test c" },
      { type: "markdown", id: "essay", grade: true, points: 2, source: "Explain." },
      { id: "bad id!", locked: true, source: "y" },
    ]);
    (nb.cells[0]!.metadata.nbgrader as Record<string, unknown>).extra = 1;
    const problems = metadataProblems(nb);
    expect(problems).toEqual([
      expect.stringMatching(/^cell 0 "a" .*unknown nbgrader key "extra"/),
      expect.stringMatching(/^cell 1 "a" .*duplicate grade_id "a" \(also cell 0\)/),
      expect.stringMatching(/^cell 2 "b" .*points must be a number >= 0, found -1/),
      expect.stringMatching(/^cell 3 "c" .*grade cell has no "points"/),
      expect.stringMatching(/^cell 4 "essay" \(markdown.*graded markdown cell must also be a solution cell/),
      expect.stringMatching(/^cell 5 "bad id!" .*may only contain letters/),
    ]);
  });

  it("rejects a tracked cell without a grade_id", () => {
    const nb = makeNotebook([{ id: "x", solution: true, source: "s" }]);
    delete nb.cells[0]!.metadata.nbgrader!.grade_id;
    expect(metadataProblems(nb)).toEqual([expect.stringMatching(/^cell 0 .*need a non-empty grade_id/)]);
  });
});

describe("release version", () => {
  it("replaces solution regions with the TypeScript stub, keeping the indentation", () => {
    const r = replaceRegions(
      "function f() {\n  const a = 1;\n  // ### BEGIN SOLUTION\n  return a;\n  // ### END SOLUTION\n}",
      "BEGIN SOLUTION",
      "END SOLUTION",
      '// YOUR CODE HERE\nthrow new Error("not implemented");',
    );
    expect(r.text).toBe(
      'function f() {\n  const a = 1;\n  // YOUR CODE HERE\n  throw new Error("not implemented");\n}',
    );
  });

  it("reports unbalanced regions and regions in the wrong kind of cell", () => {
    const nb = makeNotebook([
      { id: "s", solution: true, source: "// BEGIN SOLUTION\nx" },
      { id: "l", locked: true, source: "// BEGIN SOLUTION\nx\n// END SOLUTION" },
      { id: "t", solution: true, source: "// BEGIN HIDDEN TESTS\nx\n// END HIDDEN TESTS" },
    ]);
    let err: unknown;
    try {
      releaseNotebook(nb, { file: "bad.ipynb" });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(MetadataError);
    const problems = (err as MetadataError).problems;
    expect(problems).toContainEqual(
      expect.stringMatching(/^cell 0 "s".*"BEGIN SOLUTION" without "END SOLUTION"/),
    );
    expect(problems).toContainEqual(expect.stringMatching(/^cell 1 "l".*not a solution cell/));
    expect(problems).toContainEqual(expect.stringMatching(/^cell 2 "t".*not a grade cell/));
    expect((err as Error).message).toMatch(/^bad\.ipynb: invalid nbgrader metadata/);
  });

  it("writes a student version without solutions or hidden tests, with checksums", async () => {
    const out = await mkdtemp(path.join(os.tmpdir(), "cnnlab-assign-"));
    const r = await assign(SOURCE, out);
    expect(r.output).toBe(path.join(out, "conv-layers.ipynb"));
    expect(r.totalPoints).toBe(14);
    const text = await readFile(r.output, "utf8");
    for (const banned of [
      "BEGIN SOLUTION",
      "END SOLUTION",
      "HIDDEN TESTS",
      "stride: 2, pad: 2",
      "kernelSize: 3",
    ]) {
      expect(text).not.toContain(banned);
    }
    const source = await readNotebook(SOURCE);
    const release = await readNotebook(r.output);
    expect(release.cells.length).toBe(source.cells.length);
    const conv = release.cells.find((c) => c.metadata.nbgrader?.grade_id === "conv_forward")!;
    expect(sourceText(conv)).toContain('  // YOUR CODE HERE\n  throw new Error("not implemented");\n}');
    expect(sourceText(conv)).toContain("const [N, C, H, W] = x.shape;");
    const answer = release.cells.find((c) => c.metadata.nbgrader?.grade_id === "pooling_answer")!;
    expect(sourceText(answer)).toBe("YOUR ANSWER HERE");
    for (const c of release.cells) {
      const m = c.metadata.nbgrader!;
      expect(m.checksum).toBe(computeChecksum(c));
      expect(m.cell_type).toBe(c.cell_type);
      if (c.cell_type === "code") expect(c.outputs).toEqual([]);
    }
    // The test cells keep their visible part.
    const t = release.cells.find((c) => c.metadata.nbgrader?.grade_id === "test_conv_forward_cases")!;
    expect(sourceText(t)).toContain("(2 * convCasesPassed) / convCases.length;");
    expect(sourceText(t)).not.toContain("convCases.push");
  });

  it("refuses to overwrite the source", async () => {
    await expect(assign(SOURCE, path.dirname(SOURCE))).rejects.toThrow(/would overwrite the source/);
  });
});
