/* stage_share.h - which stages of a program can share one generated
 * function.
 *
 * Each top-level statement of IrProgram.body is one stage (a loop nest).
 * Two stages are the same when their trees are identical up to which
 * buffers, dims-table slots, loop variables and locals they name: every
 * such id is numbered in the order of its first appearance in the stage
 * (a buffer's kind, rank and dim slots are recorded where it first
 * appears; a slot whose value is known when compiling is its value, not a
 * number), and everything else -- operators, literals, types, flags,
 * masks, strides -- must match exactly.  The code generator emits one
 * function per group of equal stages, generated from the group's first
 * stage, and calls it with each stage's buffers and slots in that order.
 *
 * Stages are compared by a hash of their canonical form and then by the
 * whole form, so a hash collision never merges different stages.  Memory
 * and time are linear in the size of the IR: only each group's first
 * stage keeps its form.  A stage whose IR names an id out of range gets a
 * group of its own, so the code generator reports the error as usual.
 *
 * No LLVM here: the grouping can be tested on hand-built IR. */
#ifndef CONVC_STAGE_SHARE_H
#define CONVC_STAGE_SHARE_H

#include <stdbool.h>
#include <stdint.h>

#include "ir.h"

typedef struct StageShare {
    int32_t         nstages;
    const IrStmt  **stage;      /* nstages: the top-level statements */
    int32_t        *group;      /* nstages: groups are numbered in the order
                                   of their first stage */
    int32_t        *buf_at;     /* nstages + 1: stage k's buffers are
                                   bufs[buf_at[k] .. buf_at[k+1]) */
    int32_t        *bufs;       /* program buffer ids, in abstract order */
    int32_t        *slot_at;    /* nstages + 1: likewise for its slots */
    int32_t        *slots;      /* program slot ids (never a constant one) */

    int32_t         ngroups;
    int32_t        *first;      /* ngroups: the group's first stage */
    int32_t        *members;    /* ngroups: how many stages it has */
} StageShare;

/* The stages of p and their groups; NULL only if p is NULL.  An AGAIN
 * stage joins the group of the stage it names, with its own buffers and
 * slots; a malformed one (ir.h) gets a group of its own, which the code
 * generator reports.  Aborts with a message when memory runs out. */
StageShare *stage_share(const IrProgram *p);
void stage_share_free(StageShare *s);

/* The same grouping one stage at a time, for a caller that builds the
 * program as it goes (the lowering writes a stage equal to an earlier
 * one as IR_STMT_AGAIN).  Each call walks stage, whose ids index p's
 * tables as they are now, and gives its group: an earlier group whose
 * form it has (is_new false), else a new group whose form is kept.  bufs
 * and slots list the stage's buffers and slots in their order of first
 * appearance; they stay valid until the next call. */
typedef struct StageForms StageForms;

typedef struct StageForm {
    int32_t        group;
    bool           is_new;
    int32_t        nbufs, nslots;
    const int32_t *bufs, *slots;
} StageForm;

StageForms *stage_forms_new(void);
StageForm stage_forms_add(StageForms *f, const IrProgram *p, const IrStmt *stage);
void stage_forms_free(StageForms *f);

#endif
