DROP TABLE subtree_sums;
