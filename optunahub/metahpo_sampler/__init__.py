from .sampler import MetaHPOSampler


__all__ = ["MetaHPOSampler"]
