"""BibTeX of the papers hf_select implements, quoted in the cards of the data they shaped. Imports nothing."""

LOCAL_NATURALNESS = """@misc{just2025localnaturalness,
  title         = {Distilling Reasoning into Student LLMs: Local Naturalness for Selecting Teacher Data},
  author        = {Hoang Anh Just and Myeongseob Ko and Ruoxi Jia},
  year          = {2025},
  eprint        = {2510.03988},
  archivePrefix = {arXiv},
  url           = {https://arxiv.org/abs/2510.03988}
}"""

PROVENANCE = """@inproceedings{liu2026provenance,
  title         = {Where Did This Sentence Come From? Tracing Provenance in LLM Reasoning Distillation},
  author        = {Kaiyuan Liu and Shaotian Yan and Rui Miao and Bing Wang and Chen Shen and Jun Zhang and Jieping Ye},
  booktitle     = {International Conference on Learning Representations (ICLR)},
  year          = {2026},
  eprint        = {2512.20908},
  archivePrefix = {arXiv},
  url           = {https://arxiv.org/abs/2512.20908}
}"""

RANK_SURPRISAL = """@misc{yang2026rsr,
  title         = {Which Reasoning Trajectories Teach Students to Reason Better?
                   A Simple Metric of Informative Alignment},
  author        = {Yuming Yang and Mingyoung Lai and Wanxu Zhao and Xiaoran Fan and Zhiheng Xi and Mingqi Wu and
                   Chiyue Huang and Jun Zhao and Haijun Lv and Jian Tong and Yunhua Zhou and Yicheng Zou and
                   Qipeng Guo and Tao Gui and Qi Zhang and Xuanjing Huang},
  year          = {2026},
  eprint        = {2601.14249},
  archivePrefix = {arXiv},
  url           = {https://arxiv.org/abs/2601.14249}
}"""

IFD = """@inproceedings{li2024cherry,
  title         = {From Quantity to Quality: Boosting {LLM} Performance with Self-Guided Data Selection for Instruction
                   Tuning},
  author        = {Ming Li and Yong Zhang and Zhitao Li and Jiuhai Chen and Lichang Chen and Ning Cheng and Jianzong
                   Wang and Tianyi Zhou and Jing Xiao},
  booktitle     = {Proceedings of NAACL},
  year          = {2024},
  eprint        = {2308.12032},
  archivePrefix = {arXiv},
  url           = {https://arxiv.org/abs/2308.12032}
}"""

ASLEC = """@inproceedings{wang2026steplength,
  title         = {On the Step Length Confounding in {LLM} Reasoning Data Selection},
  author        = {Bing Wang and Rui Miao and Chen Shen and Shaotian Yan and Kaiyuan Liu and Ximing Li and
                   Xiaosong Yuan and Sinan Fan and Jun Zhang and Jieping Ye},
  booktitle     = {Proceedings of ACL},
  year          = {2026},
  eprint        = {2604.06834},
  archivePrefix = {arXiv},
  url           = {https://arxiv.org/abs/2604.06834}
}"""
