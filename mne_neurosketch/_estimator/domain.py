"""Per-subject BatchNorm statistics (``domain_bn``): domain batches and AdaBN.

Trials of different subjects (domains) have different statistics; a network
whose BatchNorm layers pool them normalises every subject by a mixture. With
``domain_bn=True`` the estimator keeps each subject's statistics apart, as
TSMNet's domain-specific batch normalisation (Kobler et al. 2022) and AdaBN
(Li et al. 2016) do, with shared affine parameters:

- in training, :class:`DomainBatchSampler` makes every batch one subject's, so
  BatchNorm normalises each subject by its own batch statistics;
- after training, :func:`recompute_statistics` sets the running statistics
  (those used to predict) to the statistics of one subject's unlabelled
  trials: the target's, never its labels.
"""

# License: BSD (3-clause)

import numpy as np
import torch
from torch import nn

from ..utils import logger


class DomainBatchSampler(torch.utils.data.Sampler):
    """Batches of trials of one group (subject) each, in a seeded random order.

    Each group's trials are shuffled and cut into batches of ``batch_size``; a
    last batch of a single trial joins the one before it (BatchNorm cannot
    normalise one trial). The batches of all groups are then shuffled. Each
    pass draws a new order from the sampler's generator.

    Parameters
    ----------
    groups : array-like of shape (n_trials,)
        The group (subject) of each trial.
    batch_size : int
        Trials per batch (a group's last batch may be smaller or, by one, larger).
    seed : int
        Seed of the shuffling.
    """

    def __init__(self, groups, batch_size, seed):
        _, self.codes = np.unique(np.asarray(groups).astype(str), return_inverse=True)
        self.batch_size = int(batch_size)
        self.rng = np.random.default_rng(seed)

    def _batches(self, order):
        batches = []
        for code in np.unique(self.codes):
            members = order[self.codes[order] == code]
            chunks = [members[i:i + self.batch_size]
                      for i in range(0, len(members), self.batch_size)]
            if len(chunks) > 1 and len(chunks[-1]) == 1:
                chunks[-2] = np.concatenate(chunks[-2:])
                chunks.pop()
            batches.extend(chunks)
        return batches

    def __len__(self):
        return len(self._batches(np.arange(len(self.codes))))

    def __iter__(self):
        batches = self._batches(self.rng.permutation(len(self.codes)))
        for i in self.rng.permutation(len(batches)):
            yield batches[i].tolist()


def _batchnorms(module):
    return [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


@torch.no_grad()
def recompute_statistics(net, X, *, what="the given trials"):
    """Set the BatchNorm running statistics of ``net``'s module to those of ``X``.

    Only the BatchNorm layers run in training mode (a cumulative average over
    the batches, ``momentum=None``): dropout and stochastic depth stay off, so
    the statistics are those the network sees when it predicts
    (:func:`torch.optim.swa_utils.update_bn` would run the whole network in
    training mode).

    Parameters
    ----------
    net : RecipeNet
        The trained skorch net.
    X : ndarray
        Unlabelled trials, scaled as the network's inputs.
    what : str
        What the trials are, for the log.

    Returns
    -------
    n_layers : int
        The number of BatchNorm layers updated (0: the module has none).
    """
    module = net.module_
    norms = _batchnorms(module)
    if not norms:
        return 0
    was_training = module.training
    momenta = [m.momentum for m in norms]
    module.eval()
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
        m.train()
    try:
        size = min(int(net.batch_size), len(X))
        # a last batch of one trial breaks BatchNorm layers on (N, C) features
        loader = torch.utils.data.DataLoader(
            net.get_dataset(X), batch_size=size, drop_last=len(X) % size == 1)
        for Xi, _ in loader:
            net.infer(Xi)
    finally:
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum
        module.train(was_training)
    logger.info(f"BatchNorm statistics of {len(norms)} layers set to those of "
                f"{len(X)} trials ({what}).")
    return len(norms)
