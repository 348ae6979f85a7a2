// {{title}}
module {{module}} (
  input  wire clk,
  input  wire rst,
  input  wire in_valid,
  output wire in_ready,
  input  wire [{{in_msb}}:0] in_data,
  output reg  out_valid,
  input  wire out_ready,
  output reg  [{{out_msb}}:0] out_data
);
  // (row, col): the padded-raster position of the next pixel, {{hp}} x {{wp}} positions per
  // image; a padding position inserts {{pad_note}} without reading in_data.
  reg [{{row_msb}}:0] row;
  reg [{{col_msb}}:0] col;
  localparam [{{hp_msb}}:0] ROW_IN = {{row_in}};
  localparam [{{wp_msb}}:0] COL_IN = {{col_in}};
  localparam [{{hp_msb}}:0] ROW_OUT = {{row_out}};
  localparam [{{wp_msb}}:0] COL_OUT = {{col_out}};
  // the position's flags, registered with it (step is then one LUT level from registers)
  reg in_image;  // ROW_IN[row] & COL_IN[col]: the position reads a pixel of the image
  reg emits;  // ROW_OUT[row] & COL_OUT[col]: this pixel completes an output window{{result_decl}}
  wire last_col = col == {{wp_last}};
  wire [{{row_msb}}:0] row_next = last_col ? ((row == {{hp_last}}) ? 0 : row + 1'b1) : row;
  wire [{{col_msb}}:0] col_next = last_col ? 0 : col + 1'b1;
  // the output register can take this clock's result: {{out_free_note}}
  wire out_free = {{out_free}};
  wire step = (in_image ? in_valid : 1'b1) & (~emits | out_free);
  assign in_ready = in_image & (~emits | out_free);
  wire [{{in_msb}}:0] px = {{px}};
{{window}}
  wire [{{out_msb}}:0] y;
{{engine}}
  always @(posedge clk) begin
    if (rst) begin
      row <= 0;
      col <= 0;
      in_image <= {{in_image_0}};
      emits <= {{emits_0}};
      out_valid <= 1'b0;{{result_reset}}
    end else begin
      if (out_ready) out_valid <= 1'b0;{{result_late}}
      if (step) begin
        row <= row_next;
        col <= col_next;
        in_image <= ROW_IN[row_next] & COL_IN[col_next];
        emits <= ROW_OUT[row_next] & COL_OUT[col_next];{{result_on_step}}
      end
    end
  end
endmodule
