import js from "@eslint/js";
import tseslint from "typescript-eslint";

/**
 * The library's layers (ARCHITECTURE.md): each may import only the layers below it. A rule per
 * layer lists the folders it must not reach; the message says where shared code belongs instead.
 */
const layers = [
  {
    files: ["src/runtime/**/*.ts"],
    forbidden: [
      "tensor",
      "ops",
      "autograd",
      "backend",
      "nn",
      "optim",
      "data",
      "display",
      "io",
      "grading",
      "compile",
      "cli",
    ],
    why: "src/runtime holds process-wide state registries only and imports no other layer",
  },
  {
    files: ["src/backend/**/*.ts"],
    forbidden: ["ops", "autograd", "nn", "optim", "data", "display", "io", "grading", "compile", "cli"],
    why: "backend kernels are pure functions on typed arrays (they may use src/tensor/dtype types and src/runtime)",
  },
  {
    files: ["src/tensor/**/*.ts", "src/ops/**/*.ts", "src/autograd/**/*.ts"],
    forbidden: ["nn", "optim", "data", "display", "io", "grading", "compile", "cli"],
    why: "tensor, ops and autograd form the core; hooks that upper layers need go through src/runtime",
  },
  {
    files: ["src/nn/**/*.ts", "src/optim/**/*.ts"],
    forbidden: ["data", "display", "grading", "compile", "cli"],
    why: "nn and optim build on the core only",
  },
  {
    files: ["src/data/**/*.ts", "src/io/**/*.ts", "src/display/**/*.ts"],
    forbidden: ["grading", "cli"],
    why: "data, io and display are library layers and must not reach the grader or the command line",
  },
  {
    files: ["src/grading/**/*.ts"],
    forbidden: ["tensor", "ops", "autograd", "backend", "nn", "optim", "data", "display", "io", "compile"],
    why: "the grader drives kernels in separate processes and never loads the tensor library itself",
  },
];

const layerRules = layers.map(({ files, forbidden, why }) => ({
  files,
  rules: {
    "no-restricted-imports": [
      "error",
      {
        patterns: [
          {
            regex: `^(\\.\\./)+(${forbidden.join("|")})(/|\\.js$)`,
            message: `layer rule: ${why} (ARCHITECTURE.md).`,
          },
          {
            regex: "^(\\.\\./)+kernel/",
            message: "layer rule: the library never imports the kernel (ARCHITECTURE.md).",
          },
        ],
      },
    ],
  },
}));

export default tseslint.config(
  { ignores: ["dist/**", "node_modules/**", "out/**", "**/*.ipynb", "kernel/assets/**", "build/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/no-explicit-any": "off",
      "no-console": "off",
    },
  },
  ...layerRules,
);
