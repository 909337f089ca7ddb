/**
 * cnnlab's rich displays: plain functions returning MIME bundles, objects that display themselves
 * through `[Symbol.for("Jupyter.display")]`, and `show*` helpers that display at once through the
 * kernel (or print text on stdout outside a notebook).
 */
import "./tensor.js";
import "./gradcheck.js";
import "./module.js";

export { JUPYTER_DISPLAY, clearOutput, type MimeBundle } from "./emit.js";
export { display, bundleOf } from "./bundle.js";
export { tensorBundle, tensorStats } from "./tensor.js";
export { gradcheckBundle, relErrorReading, RelError, showRelError, type RelErrorLevel } from "./gradcheck.js";
export {
  showImages,
  toImage,
  ImageView,
  imagesBundle,
  imageGrid,
  showFilters,
  filtersBundle,
  showGradients,
  gradientsBundle,
  type ImageOptions,
  type GradientOptions,
  type Grid,
} from "./images.js";
export { COLORMAPS, type ColormapName } from "./colormap.js";
export {
  Figure,
  figureBundle,
  initPlotly,
  plot,
  scatter,
  bar,
  heatmap,
  PLOTLY_MIME,
  type Trace,
  type Layout,
  type ChartOptions,
  type PlotOptions,
  type ScatterOptions,
  type BarOptions,
  type HeatmapOptions,
} from "./figure.js";
export {
  summary,
  moduleBundle,
  ModelSummary,
  showActivations,
  activationBundles,
  type ModuleLike,
  type SummaryRow,
  type ActivationOptions,
} from "./modules.js";
export {
  liveplot,
  LivePlot,
  progress,
  Progress,
  type LivePlotOptions,
  type ProgressOptions,
} from "./live.js";
export {
  showGraph,
  graphBundle,
  autogradGraph,
  GraphView,
  type GraphOptions,
  type AutogradGraph,
  type CompiledGraphOptions,
} from "./graph.js";
export { compiledGraphBundle, compiledGraph } from "./compiled-graph.js";
