"""Paged KV cache accounting: fixed-size blocks, per-request allocation (as vLLM's)."""

from __future__ import annotations

from slobench.core.request import SchedRequest

BLOCK_SIZE = 16  # vLLM's default block size


def blocks_for(tokens: int) -> int:
    return -(-tokens // BLOCK_SIZE)


class BlockPool:
    """Free-block counter plus each request's block count (ids are irrelevant here)."""

    def __init__(self, total_blocks: int) -> None:
        if total_blocks <= 0:
            raise ValueError(f"total_blocks must be > 0, got {total_blocks}")
        self.total_blocks = total_blocks
        self.free_blocks = total_blocks
        self._held: dict[int, int] = {}
        # rid -> blocks held, for hot loops' inline check `num_computed + n <=
        # blocks.get(rid, 0) * BLOCK_SIZE` (allocate would return True, changing nothing).
        # Read it, never write it.
        self.blocks: dict[int, int] = self._held

    def held(self, req: SchedRequest) -> int:
        return self._held.get(req.rid, 0)

    def allocate(self, req: SchedRequest, num_new_tokens: int) -> bool:
        """Grow req's blocks to hold num_computed + num_new_tokens; False if they don't fit."""
        have = self._held.get(req.rid, 0)
        tokens = req.num_computed + num_new_tokens
        if tokens <= have * BLOCK_SIZE:
            return True  # the common decode step: the last block has room
        need = blocks_for(tokens) - have
        if need > self.free_blocks:
            return False
        if need > 0:
            self.free_blocks -= need
            self._held[req.rid] = have + need
        return True

    def free(self, req: SchedRequest) -> None:
        self.free_blocks += self._held.pop(req.rid, 0)

    @property
    def used_fraction(self) -> float:
        return 1.0 - self.free_blocks / self.total_blocks
