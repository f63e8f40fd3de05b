/* report_page.S -- the report's HTML page (report_page.html) embedded in the binary, as
 * gpt2_files.S embeds GPT-2's files: assembled from the repository root. NUL-terminated. */
    .section .rodata
    .balign 16
    .globl ng_report_page
    .type ng_report_page, @object
ng_report_page:
    .incbin "src/app/report_page.html"
    .byte 0
    .size ng_report_page, . - ng_report_page

    .section .note.GNU-stack,"",@progbits
