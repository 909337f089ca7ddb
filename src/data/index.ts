/**
 * `data`: datasets, the DataLoader, image transforms, and loaders for MNIST, Fashion-MNIST (IDX)
 * and CIFAR-10 (binary).
 */
export { Dataset, TensorDataset, MapDataset, Subset, type DatasetLike } from "./dataset.js";
export { DataLoader, collate, type Collated, type DataLoaderOptions } from "./dataloader.js";
export {
  normalize,
  randomCrop,
  randomHorizontalFlip,
  toTensor,
  compose,
  type Transform,
  type RandomCropOptions,
  type ToTensorOptions,
} from "./transforms.js";
export {
  loadFashionMNIST,
  loadMNIST,
  ImageDataset,
  FASHION_MNIST_CLASSES,
  MNIST_CLASSES,
  type ImageLoaderOptions,
} from "./mnist.js";
export { loadCIFAR10, CIFAR10_CLASSES } from "./cifar.js";
export { DEBIAN_FASHION_MNIST_DIR } from "./files.js";
export { readImage, sampleImagePath, SAMPLE_IMAGE_DIRS } from "./image.js";
