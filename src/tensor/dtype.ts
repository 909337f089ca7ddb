export type DType = "float32" | "float64" | "int32" | "bool";

export type TypedArray = Float32Array | Float64Array | Int32Array | Uint8Array;

export type FloatArray = Float32Array | Float64Array;

export const DTYPES: readonly DType[] = ["float32", "float64", "int32", "bool"];

export const DEFAULT_DTYPE: DType = "float32";

export function isDType(value: unknown): value is DType {
  return typeof value === "string" && (DTYPES as readonly string[]).includes(value);
}

export function assertDType(value: unknown, where: string): DType {
  if (!isDType(value)) {
    throw new TypeError(
      `${where}: unknown dtype ${JSON.stringify(value)}; expected one of ${DTYPES.join(", ")}`,
    );
  }
  return value;
}

export function isFloating(dtype: DType): dtype is "float32" | "float64" {
  return dtype === "float32" || dtype === "float64";
}

export function allocate(dtype: DType, length: number): TypedArray {
  switch (dtype) {
    case "float32":
      return new Float32Array(length);
    case "float64":
      return new Float64Array(length);
    case "int32":
      return new Int32Array(length);
    case "bool":
      return new Uint8Array(length);
  }
}

export function dtypeOfArray(array: TypedArray): DType {
  if (array instanceof Float32Array) return "float32";
  if (array instanceof Float64Array) return "float64";
  if (array instanceof Int32Array) return "int32";
  return "bool";
}

export function bytesPerElement(dtype: DType): number {
  return dtype === "float64" ? 8 : dtype === "bool" ? 1 : 4;
}

const RANK: Record<DType, number> = { bool: 0, int32: 1, float32: 2, float64: 3 };

/** PyTorch's type promotion for two tensors: bool < int32 < float32 < float64. */
export function promoteTypes(a: DType, b: DType): DType {
  return RANK[a] >= RANK[b] ? a : b;
}

/** The dtype a Python-style scalar takes when combined with a tensor of `dtype`. */
export function promoteWithScalar(dtype: DType, scalar: number | boolean): DType {
  if (typeof scalar === "boolean") return dtype;
  if (!Number.isInteger(scalar) && !isFloating(dtype)) return "float32";
  if (dtype === "bool") return Number.isInteger(scalar) ? "int32" : "float32";
  return dtype;
}

/** Result dtype of ops that always produce floating values (div, exp, mean...). */
export function floatingOf(dtype: DType): "float32" | "float64" {
  return dtype === "float64" ? "float64" : "float32";
}

/** Casting a JS number into a slot of `dtype`, as a typed array store would do it. */
export function castScalar(value: number, dtype: DType): number {
  switch (dtype) {
    case "float32":
      return Math.fround(value);
    case "float64":
      return value;
    case "int32":
      return Math.trunc(value) | 0;
    case "bool":
      return value ? 1 : 0;
  }
}
