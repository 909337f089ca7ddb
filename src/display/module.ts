/**
 * Default rich display of nn modules: the layer tree with parameter counts (`moduleBundle`).
 * A side effect on `Module.prototype`, unless the nn code defines its own display.
 */
import { Module } from "../nn/module.js";
import { JUPYTER_DISPLAY, type MimeBundle } from "./emit.js";
import { moduleBundle, type ModuleLike } from "./modules.js";

if (!Object.prototype.hasOwnProperty.call(Module.prototype, JUPYTER_DISPLAY)) {
  (Module.prototype as any)[JUPYTER_DISPLAY] = function (this: Module): MimeBundle {
    return moduleBundle(this as unknown as ModuleLike);
  };
}
