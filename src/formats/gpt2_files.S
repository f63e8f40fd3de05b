/* gpt2_files.S -- GPT-2's vocabulary files, embedded in the binary so that ./nanogpt does not
 * depend on where the repository is at run time. Assembled from the repository root (the
 * Makefile's working directory), which is where the .incbin paths are relative to.
 * Each file is followed by a NUL byte (not counted: *_end points at it). */
    .section .rodata
    .balign 16
    .globl ng_gpt2_encoder_json
    .type ng_gpt2_encoder_json, @object
ng_gpt2_encoder_json:
    .incbin "data/gpt2/encoder.json"
    .globl ng_gpt2_encoder_json_end
ng_gpt2_encoder_json_end:
    .byte 0
    .size ng_gpt2_encoder_json, . - ng_gpt2_encoder_json

    .balign 16
    .globl ng_gpt2_vocab_bpe
    .type ng_gpt2_vocab_bpe, @object
ng_gpt2_vocab_bpe:
    .incbin "data/gpt2/vocab.bpe"
    .globl ng_gpt2_vocab_bpe_end
ng_gpt2_vocab_bpe_end:
    .byte 0
    .size ng_gpt2_vocab_bpe, . - ng_gpt2_vocab_bpe

    .section .note.GNU-stack,"",@progbits
