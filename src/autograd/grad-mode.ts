import { registerGlobalState } from "../runtime/state.js";

let gradEnabled = true;

registerGlobalState<boolean>({
  name: "autograd/grad-mode: gradEnabled",
  save: () => gradEnabled,
  restore: (saved) => {
    gradEnabled = saved;
  },
});

export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Sets the grad mode for the duration of `fn` (also across an awaited promise it returns). */
export function withGradMode<T>(enabled: boolean, fn: () => T): T {
  const previous = gradEnabled;
  gradEnabled = enabled;
  let result: T;
  try {
    result = fn();
  } catch (error) {
    gradEnabled = previous;
    throw error;
  }
  if (result instanceof Promise) {
    return result.finally(() => {
      gradEnabled = previous;
    }) as T;
  }
  gradEnabled = previous;
  return result;
}

/** Runs `fn` without recording operations for autograd (PyTorch's `torch.no_grad()`). */
export function noGrad<T>(fn: () => T): T {
  return withGradMode(false, fn);
}

/** Runs `fn` with autograd recording on, even inside `noGrad`. */
export function enableGrad<T>(fn: () => T): T {
  return withGradMode(true, fn);
}

/** Sets grad mode globally; returns the previous mode. */
export function setGradEnabled(enabled: boolean): boolean {
  const previous = gradEnabled;
  gradEnabled = enabled;
  return previous;
}
