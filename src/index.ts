/**
 * cnnlab: eager tensors with define-by-run autograd, the CS231n ConvNet toolkit and rich displays.
 * This file is the package's only public entry.
 */
import "./tensor/methods.js";

export { Tensor, Storage, type GradHook, type RemovableHandle } from "./tensor/tensor.js";
export { DTYPES, promoteTypes, type DType, type TypedArray } from "./tensor/dtype.js";
export {
  tensor,
  zeros,
  ones,
  full,
  arange,
  linspace,
  eye,
  rand,
  randn,
  randint,
  zerosLike,
  onesLike,
  fullLike,
  randLike,
  randnLike,
  randintLike,
  type CreationOptions,
  type NestedArray,
} from "./tensor/creation.js";
export { manualSeed, Generator } from "./tensor/random.js";
export { noGrad, enableGrad, isGradEnabled, setGradEnabled } from "./autograd/grad-mode.js";
export {
  defineFunction,
  Function,
  Context,
  type FunctionDef,
  type AppliedFunction,
} from "./autograd/function.js";
export { backward, type BackwardOptions } from "./autograd/engine.js";
export {
  gradcheck,
  numericalGradient,
  numericalGradientArray,
  gradCheckSparse,
  relError,
  GradcheckResult,
  type GradcheckOptions,
  type InputCheck,
  type SparseCheck,
} from "./autograd/gradcheck.js";
export {
  add,
  sub,
  mul,
  div,
  pow,
  maximum,
  minimum,
  neg,
  abs,
  exp,
  log,
  sqrt,
  square,
  tanh,
  sigmoid,
  relu,
  leakyRelu,
  sin,
  cos,
  reciprocal,
  sign,
  floor,
  round,
  isnan,
  clamp,
  where,
  eq,
  ne,
  lt,
  le,
  gt,
  ge,
  logicalAnd,
  logicalOr,
  logicalNot,
  allclose,
} from "./ops/elementwise.js";
export {
  sum,
  mean,
  variance,
  std,
  logsumexp,
  max,
  min,
  amax,
  amin,
  argmax,
  argmin,
  type ValuesIndices,
} from "./ops/reduce.js";
export { matmul } from "./ops/matmul.js";
export { cat, stack, split, chunk, pad, indexSelect, gather, scatterAdd } from "./ops/indexing.js";
export {
  reshape,
  flatten,
  squeeze,
  unsqueeze,
  permute,
  transpose,
  expand,
  slice,
  narrow,
  select,
  clone,
  type SliceSpec,
} from "./ops/view.js";
export {
  backend,
  setBackend,
  listBackends,
  registerBackend,
  setNumThreads,
  getNumThreads,
  wasmAvailable,
  wasmVariant,
  backendInfo,
  makeBackend,
  jsTable,
  wasmTable,
  type BackendInfo,
  type Table,
  type Backend,
  type GemmArgs,
  type WasmVariant,
} from "./backend/index.js";
export * as F from "./nn/functional.js";
export * as nn from "./nn/index.js";
export * as optim from "./optim/index.js";
export * as data from "./data/index.js";
export * from "./display/index.js";
export { save, load, loadFile, type SaveOptions, type SafetensorsFile } from "./io/safetensors.js";
export {
  checkpointGlobalState,
  restoreGlobalState,
  globalStateNames,
  type GlobalState,
  type StateCheckpoint,
} from "./runtime/state.js";
export {
  compile,
  CaptureError,
  type CompileOptions,
  type CompiledFunction,
  type CompiledGraph,
  type GraphInfo,
  type MemoryReport,
} from "./compile/index.js";
