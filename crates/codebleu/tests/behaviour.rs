//! Properties of the metrics that hold whatever the package's exact numbers.

use tradeoff_codebleu::{
    bleu4, codebleu, codebleu_pair, exact_match, stats, Error, ExactMatch, Lang, Stats, Weights,
};

/// One snippet per language, each with data flow, so every component is defined.
fn sample(lang: Lang) -> &'static str {
    match lang {
        Lang::Python => "def area(w, h):\n    # rectangle\n    a = w * h\n    return a",
        Lang::Java => "class G { int area(int w, int h) { int a = w * h; return a; } }",
        Lang::CSharp => "class G { int Area(int w, int h) { int a = w * h; return a; } }",
        Lang::Cpp => "int area(int w, int h) { int a = w * h; return a; }",
        Lang::C => "int area(int w, int h) { int a; a = w * h; return a; }",
    }
}

#[test]
fn identical_code_scores_one_everywhere() {
    for lang in Lang::ALL {
        let s = codebleu_pair(sample(lang), sample(lang), lang).unwrap();
        assert!(
            s.reference_dataflow_edges > 0,
            "{lang}: sample has no data flow"
        );
        for (name, v) in [
            ("codebleu", s.codebleu),
            ("ngram", s.ngram_match),
            ("weighted", s.weighted_ngram_match),
            ("syntax", s.syntax_match),
            ("dataflow", s.dataflow_match),
        ] {
            assert!((v - 1.0).abs() < 1e-12, "{lang} {name}: {v}");
        }
    }
}

#[test]
fn unrelated_code_scores_low() {
    let reference = "def area(w, h):\n    a = w * h\n    return a";
    let hypothesis = "import os\nfor name in os.listdir('.'):\n    print(name.upper())";
    let s = codebleu_pair(reference, hypothesis, Lang::Python).unwrap();
    assert_eq!(s.ngram_match, 0.0);
    assert_eq!(s.weighted_ngram_match, 0.0);
    assert!(s.syntax_match < 0.3, "{s:?}");
    // Edges without parents, like a name's first definition, normalise alike in any
    // code, so unrelated snippets still share some.
    assert!(s.dataflow_match <= 0.5, "{s:?}");
    assert!(s.codebleu < 0.3, "{s:?}");
}

#[test]
fn no_reference_data_flow_is_zero_and_counts_as_one_in_the_total() {
    // A call on literals links no variables, so there are no data-flow edges: the package
    // returns 0 for the component and its total takes it as 1.
    // (Five tokens: with fewer, the weighted unigram total 0.2 * n stays under the
    // package's floor of 1 and that component drops below 1.)
    let code = "print(1, 2, 3, 4, 5)";
    let s = codebleu_pair(code, code, Lang::Python).unwrap();
    assert_eq!(s.reference_dataflow_edges, 0);
    assert_eq!(s.dataflow_match, 0.0);
    assert!((s.codebleu - 1.0).abs() < 1e-12);
}

#[test]
fn weights_are_applied_as_given() {
    let reference = sample(Lang::Java);
    let hypothesis = "class G { int area(int w, int h) { return w + h; } }";
    let w = Weights {
        ngram: 1.0,
        weighted_ngram: 0.0,
        syntax: 0.0,
        dataflow: 0.0,
    };
    let s = codebleu(&[reference], &[hypothesis], Lang::Java, w).unwrap();
    assert_eq!(s.codebleu, s.ngram_match);
    assert_eq!(s.ngram_match, bleu4(&[reference], &[hypothesis]).unwrap());
}

#[test]
fn errors_instead_of_numbers() {
    for name in ["ruby", "javascript", "go", "rust", "php", "kotlin"] {
        assert!(matches!(
            name.parse::<Lang>(),
            Err(Error::UnsupportedLanguage(_))
        ));
    }
    assert_eq!("C#".parse::<Lang>().unwrap(), Lang::CSharp);
    assert_eq!("c_sharp".parse::<Lang>().unwrap(), Lang::CSharp);
    let empty: [&str; 0] = [];
    assert!(matches!(
        codebleu(&empty, &empty, Lang::C, Weights::default()),
        Err(Error::EmptyCorpus)
    ));
    assert!(matches!(
        codebleu(&["a"], &["a", "b"], Lang::C, Weights::default()),
        Err(Error::LengthMismatch { .. })
    ));
    let nan = Weights {
        ngram: f64::NAN,
        ..Weights::default()
    };
    assert!(matches!(
        codebleu(&["a"], &["a"], Lang::C, nan),
        Err(Error::Weights(_))
    ));
    let no_refs: [&[&str]; 1] = [&[]];
    assert!(matches!(
        tradeoff_codebleu::codebleu_multi(&no_refs, &["a"], Lang::C, Weights::default()),
        Err(Error::NoReference(0))
    ));
}

#[test]
fn exact_match_modes() {
    let refs = ["int a = 1;", "return x;"];
    let hyps = ["int a = 1;", "return  x;\n"];
    assert_eq!(exact_match(&refs, &hyps, ExactMatch::Strict).unwrap(), 0.5);
    assert_eq!(
        exact_match(&refs, &hyps, ExactMatch::Whitespace).unwrap(),
        1.0
    );
}

#[test]
fn summed_statistics_score_any_subset_as_scoring_it_afresh() {
    let refs = [
        sample(Lang::CSharp),
        "int Twice(int x) { int y = x * 2; return y; }",
        "void Reset() { count = 0; }",
    ];
    let hyps = [
        "class G { int Area(int w, int h) { return w * h; } }",
        "int Twice(int x) { return x + x; }",
        "void Reset() { count = 0; }",
    ];
    let stats = stats(&refs, &hyps, Lang::CSharp).unwrap();
    assert_eq!(stats.len(), 3);
    for subset in [vec![0, 1, 2], vec![2, 0], vec![1, 1, 2]] {
        let r: Vec<&str> = subset.iter().map(|&i| refs[i]).collect();
        let h: Vec<&str> = subset.iter().map(|&i| hyps[i]).collect();
        let fresh = codebleu(&r, &h, Lang::CSharp, Weights::default()).unwrap();
        let summed = Stats::sum(subset.iter().map(|&i| &stats[i]));
        assert_eq!(summed.codebleu(Weights::default()).unwrap(), fresh);
        assert_eq!(summed.bleu4(), bleu4(&r, &h).unwrap());
    }
}

#[test]
fn code_tokens_ignore_layout_and_comments() {
    use tradeoff_codebleu::{code_tokens, Lang};
    let a = code_tokens("int f(int a){return a+1;}", Lang::Java).unwrap();
    let b = code_tokens(
        "int f(int a) {\n    // one more\n    return a + 1;\n}",
        Lang::Java,
    )
    .unwrap();
    assert_eq!(a, b);
    assert_eq!(
        a,
        ["int", "f", "(", "int", "a", ")", "{", "return", "a", "+", "1", ";", "}"]
    );
    let s = code_tokens("string s = \"a  b\"; if (x == y) {}", Lang::CSharp).unwrap();
    assert!(
        s.contains(&"\"a  b\"".to_string()) && s.contains(&"==".to_string()),
        "{s:?}"
    );
}
