DROP INDEX awards_subtree_idx;
