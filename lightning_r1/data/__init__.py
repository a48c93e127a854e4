"""LightningDataModules: toy 2-D mixtures, Dirac, MNIST-5k (offline), MNIST, CIFAR-10, image folders."""

from lightning_r1.data.base import BaseDataModule, ImageDataModule, StreamDataModule
from lightning_r1.data.dirac import DiracDataModule
from lightning_r1.data.image_folder import IMAGE_EXTENSIONS, ImageFileDataset, ImageFolderDataModule
from lightning_r1.data.mnist_5k import MNIST5kDataModule
from lightning_r1.data.stacked_mnist import StackedMNISTDataModule
from lightning_r1.data.streams import GaussianMixtureStream, PointMassStream
from lightning_r1.data.torchvision_datasets import CIFAR10DataModule, MNISTDataModule, TorchvisionDataModule
from lightning_r1.data.toy import GaussianMixtureDataModule, Grid25DataModule, Ring8DataModule
from lightning_r1.data.transforms import ImagesOnly, PILToTensor, TensorImageDataset

__all__ = [
    "IMAGE_EXTENSIONS",
    "BaseDataModule",
    "CIFAR10DataModule",
    "DiracDataModule",
    "GaussianMixtureDataModule",
    "GaussianMixtureStream",
    "Grid25DataModule",
    "ImageDataModule",
    "ImageFileDataset",
    "ImageFolderDataModule",
    "ImagesOnly",
    "MNIST5kDataModule",
    "MNISTDataModule",
    "PILToTensor",
    "PointMassStream",
    "Ring8DataModule",
    "StackedMNISTDataModule",
    "StreamDataModule",
    "TensorImageDataset",
    "TorchvisionDataModule",
]
