import { describe, expect, it, afterEach } from "vitest";
import {
  tensor,
  randn,
  showImages,
  imagesBundle,
  filtersBundle,
  gradientsBundle,
  showFilters,
  Tensor,
} from "../../src/index.js";
import { decodePng, fakeKernel } from "./helpers.js";

describe("imagesBundle (visualize_grid semantics)", () => {
  it("scales each image min–max to 0..255 and puts black padding between tiles", () => {
    // Two 2x2 images side by side; image 0 spans 0..3, image 1 spans 10..40.
    const t = tensor([
      [
        [
          [0, 1],
          [2, 3],
        ],
      ],
      [
        [
          [10, 20],
          [30, 40],
        ],
      ],
    ]);
    const b = imagesBundle(t, { scale: 1, padding: 1, nrow: 2 });
    expect(Object.keys(b).sort()).toEqual(["image/png", "text/plain"]);
    const png = decodePng(b["image/png"]);
    expect([png.width, png.height]).toEqual([5, 2]);
    expect(png.channels).toBe(3);
    // gray: v -> round(255 * (v - lo) / (hi - lo))
    expect(png.px(0, 0)).toEqual([0, 0, 0]);
    expect(png.px(1, 0)).toEqual([85, 85, 85]);
    expect(png.px(0, 1)).toEqual([170, 170, 170]);
    expect(png.px(1, 1)).toEqual([255, 255, 255]);
    expect(png.px(2, 0)).toEqual([0, 0, 0]); // padding column
    expect(png.px(3, 0)).toEqual([0, 0, 0]); // 10 is the minimum of image 1
    expect(png.px(4, 1)).toEqual([255, 255, 255]);
    expect(png.px(4, 0)).toEqual([85, 85, 85]); // 20 is a third of 10..40
  });

  it("normalizes all images together with normalize: global", () => {
    const t = tensor([
      [
        [
          [0, 1],
          [2, 3],
        ],
      ],
      [
        [
          [0, 6],
          [3, 6],
        ],
      ],
    ]);
    const png = decodePng(
      imagesBundle(t, { scale: 1, padding: 0, nrow: 2, normalize: "global" })["image/png"],
    );
    expect(png.px(1, 1)).toEqual([128, 128, 128]); // 3 of 0..6
    expect(png.px(3, 0)).toEqual([255, 255, 255]);
  });

  it("upscales small maps with nearest neighbour", () => {
    const t = tensor([
      [0, 1],
      [1, 0],
    ]);
    const png = decodePng(imagesBundle(t, { scale: 3 })["image/png"]);
    expect([png.width, png.height]).toEqual([6, 6]);
    expect(png.px(2, 2)).toEqual([0, 0, 0]);
    expect(png.px(3, 0)).toEqual([255, 255, 255]);
    expect(png.px(5, 5)).toEqual([0, 0, 0]);
  });

  it("uses matplotlib's viridis end colours and a blue–white–red diverging map", () => {
    const t = tensor([[0, 1]]);
    const v = decodePng(imagesBundle(t, { scale: 1, cmap: "viridis" })["image/png"]);
    expect(v.px(0, 0)).toEqual([0x44, 0x01, 0x54]);
    expect(v.px(1, 0)).toEqual([0xfd, 0xe7, 0x25]);
    const d = decodePng(imagesBundle(tensor([[-2, 0, 1]]), { scale: 1, cmap: "diverging" })["image/png"]);
    expect(d.px(0, 0)).toEqual([0x21, 0x66, 0xac]); // most negative: blue
    expect(d.px(1, 0)).toEqual([0xf7, 0xf7, 0xf7]); // zero: white
    const red = d.px(2, 0);
    expect(red[0]).toBeGreaterThan(red[2]); // positive: reddish
  });

  it("shows C = 3 as RGB tiles", () => {
    // One 1x2 RGB image: pixel 0 pure red, pixel 1 pure blue (values 0..1).
    const t = tensor([[[[1, 0]], [[0, 0]], [[0, 1]]]]);
    const png = decodePng(imagesBundle(t, { scale: 1 })["image/png"]);
    expect(png.px(0, 0)).toEqual([255, 0, 0]);
    expect(png.px(1, 0)).toEqual([0, 0, 255]);
  });

  it("lays out a default near-square grid and reports it in text", () => {
    const b = imagesBundle(randn([10, 1, 4, 4]), { padding: 2, scale: 2 });
    const png = decodePng(b["image/png"]);
    // ceil(sqrt(10)) = 4 columns, 3 rows of 8px tiles with 2px gaps
    expect([png.width, png.height]).toEqual([4 * 8 + 3 * 2, 3 * 8 + 2 * 2]);
    expect(b["text/plain"]).toContain("10 tiles 4x4");
  });

  it("rejects bad shapes and options with the op named", () => {
    expect(() => imagesBundle(randn([2, 2, 2, 2, 2]))).toThrow(
      /showImages: expected an image tensor.*\[2, 2, 2, 2, 2\]/,
    );
    expect(() => imagesBundle(randn([2, 2]), { cmap: "jet" as any })).toThrow(
      /showImages: unknown cmap "jet"/,
    );
    expect(() => imagesBundle(randn([2, 2]), { colour: 1 } as any)).toThrow(
      /showImages: unknown option "colour"/,
    );
  });
});

describe("showFilters / showGradients", () => {
  let k: ReturnType<typeof fakeKernel>;
  afterEach(() => k?.restore());

  it("draws [K,3,F,F] weights as RGB tiles", () => {
    const b = filtersBundle(randn([6, 3, 5, 5]), { scale: 2, padding: 1 });
    const png = decodePng(b["image/png"]);
    expect([png.width, png.height]).toEqual([3 * 10 + 2, 2 * 10 + 1]);
    expect(String(b["text/html"])).toContain("filters [6, 3, 5, 5]");
  });

  it("draws [K,C,F,F] with C != 3 as one row of channel tiles per filter", () => {
    const b = filtersBundle(randn([4, 2, 3, 3]), { scale: 4, padding: 1 });
    const png = decodePng(b["image/png"]);
    expect([png.width, png.height]).toEqual([2 * 12 + 1, 4 * 12 + 3]);
  });

  it("showFilters displays through the kernel and returns nothing", () => {
    k = fakeKernel();
    expect(showFilters(randn([2, 1, 3, 3]))).toBeUndefined();
    expect(k.emitted).toHaveLength(1);
    expect(decodePng(k.emitted[0].bundle["image/png"]).width).toBeGreaterThan(0);
  });

  it("shows signed gradients on the diverging map and saliency as max |g|", () => {
    const g = tensor([[[[-1, 0, 1]], [[0, 0, 0]], [[0, 0, 0]]]]);
    const signed = decodePng(gradientsBundle(g, { scale: 1, padding: 0 })["image/png"]);
    expect([signed.width, signed.height]).toEqual([9, 1]); // 3 channel tiles in a row
    expect(signed.px(1, 0)).toEqual([0xf7, 0xf7, 0xf7]);
    const sal = decodePng(gradientsBundle(g, { saliency: true, scale: 1 })["image/png"]);
    expect([sal.width, sal.height]).toEqual([3, 1]);
    expect(sal.px(0, 0)).toEqual([255, 255, 255]);
    expect(sal.px(1, 0)).toEqual([0, 0, 0]);
    expect(() => gradientsBundle(null)).toThrow(/showGradients: the gradient is null/);
  });

  it("a tensor requiring grad can be shown", () => {
    k = fakeKernel();
    showImages(randn([3, 8, 8], { requiresGrad: true }) as Tensor);
    expect(decodePng(k.emitted[0].bundle["image/png"]).channels).toBe(3);
  });
});

describe("toImage", () => {
  it("returns an object that displays as the image grid and validates eagerly", async () => {
    const { toImage, JUPYTER_DISPLAY } = await import("../../src/index.js");
    const view = toImage(
      tensor([
        [0, 1],
        [1, 0],
      ]),
      { scale: 2 },
    );
    const png = decodePng((view as any)[JUPYTER_DISPLAY]()["image/png"]);
    expect([png.width, png.height]).toEqual([4, 4]);
    expect(String(view)).toContain("1 tile 2x2");
    expect(() => toImage(randn([2, 2, 2, 2, 2]))).toThrow(/toImage: expected an image tensor/);
  });
});
