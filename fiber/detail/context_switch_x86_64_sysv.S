/* context_switch_x86_64_sysv.S — weft's stack switch on x86-64 System V (ELF: Linux, the BSDs).
 *
 * Owns: weft_make_context and weft_jump_context, drop-in twins of Boost.Context's make_fcontext /
 * jump_fcontext with the same saved layout, so the unwinders (backtrace.cpp, tools/weft-gdb.py)
 * read both alike: at the suspended handle mxcsr + x87 control word at +0x0, r12 +0x8, r13 +0x10,
 * r14 +0x18, r15 +0x20, rbx +0x28, rbp +0x30, the resume address +0x38; the stack continues at
 * +0x40.
 *
 * Why not Boost's own jump: it resumes with `pop; jmp *reg`. The call that entered the jump pushed
 * an entry on the CPU's return-stack predictor that no `ret` consumes, so after every switch the
 * predictor is one entry off and each return up the resumed fiber's call chain mispredicts (about
 * 20 ns per switch measured here). Resuming with `ret` pops that entry instead: when the two sides
 * of a switch sit at the same call depth in the same code (yield ping-pong, a channel hand-off,
 * unpark-and-park), every return is predicted.
 *
 * The FP control words (MXCSR, x87 CW) are saved per context as Boost does, since each fiber, like
 * each thread, owns its rounding mode and exception masks; but they are reloaded only when the
 * resumed context's saved words differ from the running ones. ldmxcsr and fldcw are microcoded,
 * and fibers almost never change them, so the common switch skips both and ends in the same state.
 *
 * Invariant: transfer_t {from, data} comes back in rax:rdx (the System V return of a 16-byte
 * struct) and reaches a new context's entry function in rdi:rsi, exactly as Boost's.
 *
 * Not CET-marked (no endbr64, no .note.gnu.property): a switch that returns into another stack
 * cannot work under shadow stacks anyway. On a toolchain that builds with -fcf-protection by
 * default, linking this file drops the CET marking of the binary; -DWEFT_OWN_CONTEXT_SWITCH=OFF
 * keeps Boost's jump instead.
 */
    .text
    .globl  weft_jump_context
    .hidden weft_jump_context
    .type   weft_jump_context, @function
    .align  16
weft_jump_context:              /* rdi: the context to resume, rsi: data */
    leaq    -0x38(%rsp), %rsp   /* the return address stays at +0x38 */
    stmxcsr (%rsp)
    fnstcw  0x4(%rsp)
    movq    %r12, 0x8(%rsp)
    movq    %r13, 0x10(%rsp)
    movq    %r14, 0x18(%rsp)
    movq    %r15, 0x20(%rsp)
    movq    %rbx, 0x28(%rsp)
    movq    %rbp, 0x30(%rsp)
    movq    %rsp, %rax          /* our handle: returned to whoever resumes next */
    movq    %rdi, %rsp
    movl    (%rax), %ecx        /* the FP control words: reloaded only when they differ (below) */
    cmpl    (%rsp), %ecx
    jne     2f
    movzwl  0x4(%rax), %ecx
    cmpw    0x4(%rsp), %cx
    jne     2f
1:
    movq    0x8(%rsp), %r12
    movq    0x10(%rsp), %r13
    movq    0x18(%rsp), %r14
    movq    0x20(%rsp), %r15
    movq    0x28(%rsp), %rbx
    movq    0x30(%rsp), %rbp
    leaq    0x38(%rsp), %rsp    /* at the resume address */
    movq    %rsi, %rdx          /* transfer_t as a return value: rax = from, rdx = data */
    movq    %rax, %rdi          /* ... and as a new context's arguments: rdi = from, rsi = data */
    ret
2:
    ldmxcsr (%rsp)
    fldcw   0x4(%rsp)
    jmp     1b
    .size   weft_jump_context, .-weft_jump_context

    .globl  weft_make_context
    .hidden weft_make_context
    .type   weft_make_context, @function
    .align  16
weft_make_context:              /* rdi: top of the stack, rsi: its size (unused), rdx: entry */
    movq    %rdi, %rax
    andq    $-16, %rax
    leaq    -0x40(%rax), %rax
    stmxcsr (%rax)
    fnstcw  0x4(%rax)
    movq    %rdx, 0x28(%rax)    /* rbx: the entry function */
    leaq    weft_context_returned(%rip), %rcx
    movq    %rcx, 0x30(%rax)    /* rbp: where a returning entry function would land */
    leaq    weft_context_trampoline(%rip), %rcx
    movq    %rcx, 0x38(%rax)    /* the first resume starts at the trampoline */
    ret
weft_context_trampoline:
    pushq   %rbp                /* a return address for the entry: the stack is as after a call */
    jmp     *%rbx
weft_context_returned:          /* entry functions never return (they switch away for good) */
    call    abort@PLT
    hlt
    .size   weft_make_context, .-weft_make_context

    .section .note.GNU-stack, "", @progbits
